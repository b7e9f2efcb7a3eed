"""Agent upgrade campaigns from the cloud (docs/upgrades.md#campaigns-from-the-cloud; docs/api.md#agent-upgrades-
from-the-cloud).

``POST /api/upgrades/packages`` (admin, every site: a presigned POST form to publish a package into the media
bucket) · ``POST /api/upgrades/campaigns`` (operator or admin of every named site) · ``GET /api/upgrades/campaigns``
· ``GET /api/upgrades/campaigns/{campaign_id}`` (per site and per agent: waves, states, versions) ·
``POST /api/upgrades/campaigns/{campaign_id}/cancel``. Every mutating call is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_int
from chalicelib.api.params import limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope

if TYPE_CHECKING:
    from chalicelib.api.bodies.upgrades import CampaignBody, CancelBody, PackageBody

api = Router(__name__, tag="upgrades")

@api.route("POST", "/api/upgrades/packages", Access.ADMIN, Scope.TENANT,
           "A presigned POST form to publish an agent package (.tar.gz, at most 64 MB) into the media bucket",
           body="PackageBody", responses={"201": "the form to POST the package with", "503": "no media bucket"},
           audit="upgrade.package")
def publish_package(call: Call[PackageBody]) -> Response:
    return ok(container.get().upgrades.package_upload(call.body.version, call.principal), 201)


@api.route("POST", "/api/upgrades/campaigns", Access.OPERATOR, Scope.NAMED,
           "Upgrade the agents of one or several sites to a published package, in waves (canary first)",
           body="CampaignBody",
           responses={"201": "ordered: each site's LMS starts it (now, or when it is back online)"},
           audit="upgrade.campaign", links=tuple(
               Link("201", method, path, {"campaign_id": "$response.body#/data/campaign_id"}) for method, path in (
                   ("GET", "/api/upgrades/campaigns/{campaign_id}"),
                   ("POST", "/api/upgrades/campaigns/{campaign_id}/cancel"))))
def create_campaign(call: Call[CampaignBody]) -> Response:
    body = call.body
    campaign = container.get().upgrades.create(
        call.principal, version=body.version, sha256=body.sha256, signature=body.signature, site_ids=body.site_ids,
        agent_ids=body.agent_ids, canary_percent=body.canary_percent, wave_size=body.wave_size,
    )  # fmt: skip
    return ok(campaign, 201)


@api.route("GET", "/api/upgrades/campaigns", Access.VIEWER, Scope.LIST,
           "The newest upgrade campaigns of the caller's sites, with each site's state", query=(limit(50, 200),))
def list_campaigns(call: Call[None]) -> Response:
    campaigns = container.get().upgrades.list(call.principal, query_int(call.request, "limit", 50))
    return ok({"campaigns": campaigns, "count": len(campaigns)})


@api.route("GET", "/api/upgrades/campaigns/{campaign_id}", Access.VIEWER, Scope.SITE,
           "An upgrade campaign: its state, each site's, and each agent's wave, state and versions")
def get_campaign(call: Call[None], campaign_id: str) -> Response:
    return ok(container.get().upgrades.get(campaign_id, call.principal))


@api.route("POST", "/api/upgrades/campaigns/{campaign_id}/cancel", Access.OPERATOR, Scope.SITE,
           "Cancel an upgrade campaign: no site starts a further wave (agents mid-upgrade finish theirs)",
           body="CancelBody", body_optional=True, audit="upgrade.cancel")
def cancel_campaign(call: Call[CancelBody], campaign_id: str) -> Response:
    return ok(container.get().upgrades.cancel(campaign_id, call.principal))
