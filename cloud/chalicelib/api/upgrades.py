"""Agent upgrade campaigns from the cloud (docs/upgrades.md#campaigns-from-the-cloud; docs/api.md#agent-upgrades-
from-the-cloud).

``POST /api/upgrades/packages`` (admin, every site: a presigned POST form to publish a package into the media
bucket) · ``POST /api/upgrades/campaigns`` (operator or admin of every named site) · ``GET /api/upgrades/campaigns``
· ``GET /api/upgrades/campaigns/{campaign_id}`` (per site and per agent: waves, states, versions) ·
``POST /api/upgrades/campaigns/{campaign_id}/cancel``. Every mutating call is audited.
"""

from __future__ import annotations

from typing import Annotated

from chalice.app import Response
from pydantic import Field

from chalicelib import container
from chalicelib.api.http import RequestBody, ok, query_int
from chalicelib.api.params import limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.upgrade_campaign import MAX_SITES
from shared.agent_packages import SHA256_PATTERN, SIGNATURE_PATTERN, VERSION_PATTERN
from shared.topics import ID_PATTERN

api = Router(__name__, tag="upgrades")

AgentId = Annotated[str, Field(pattern=ID_PATTERN)]


class PackageBody(RequestBody):
    """``POST /api/upgrades/packages``: the version whose package is to be uploaded."""

    version: str = Field(pattern=VERSION_PATTERN, description="the release version, e.g. 1.2.3")


class CampaignBody(RequestBody):
    """``POST /api/upgrades/campaigns``: a published package, the sites (and optionally agents), the waves."""

    version: str = Field(pattern=VERSION_PATTERN, description="a published package's version")
    sha256: str = Field(pattern=SHA256_PATTERN, description="its sha256 (hex), as the release says")
    signature: str = Field(pattern=SIGNATURE_PATTERN, description="the release key's signature (base64)")
    site_ids: list[AgentId] = Field(min_length=1, max_length=MAX_SITES, description="the sites to upgrade")
    agent_ids: list[AgentId] | None = Field(default=None, min_length=1, max_length=5000,
                                            description="only these agents of the sites (default: all)")  # fmt: skip
    canary_percent: float = Field(default=10.0, gt=0, le=100, description="each site's first wave, in %")
    wave_size: int = Field(default=25, ge=1, le=5000, description="agents per wave after the canary")


class CancelBody(RequestBody):
    """``POST /api/upgrades/campaigns/{id}/cancel`` (optional, empty)."""


@api.route("POST", "/api/upgrades/packages", Access.ADMIN, Scope.TENANT,
           "A presigned POST form to publish an agent package (.tar.gz, at most 64 MB) into the media bucket",
           body=PackageBody, responses={"201": "the form to POST the package with", "503": "no media bucket"},
           audit="upgrade.package")
def publish_package(call: Call[PackageBody]) -> Response:
    return ok(container.get().upgrades.package_upload(call.body.version, call.principal), 201)


@api.route("POST", "/api/upgrades/campaigns", Access.OPERATOR, Scope.NAMED,
           "Upgrade the agents of one or several sites to a published package, in waves (canary first)",
           body=CampaignBody, responses={"201": "ordered: each site's LMS starts it (now, or when it is back online)"},
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
           body=CancelBody, body_optional=True, audit="upgrade.cancel")
def cancel_campaign(call: Call[CancelBody], campaign_id: str) -> Response:
    return ok(container.get().upgrades.cancel(campaign_id, call.principal))
