"""Agent upgrade campaigns ordered from the cloud (docs/upgrades.md#campaigns-from-the-cloud).

* **The package** is published to the tenant's media bucket once per version (``agent-packages/<version>.tar.gz``,
  uploaded with a presigned POST form: :meth:`UpgradeCampaignService.package_upload`). The cloud does not trust it:
  each LMS downloads it through a presigned URL into its own cache only after checking its sha256 and the release
  key's signature (and each agent checks both again).
* **A campaign** names the version with its sha256 and signature, one or several sites and optionally agents of
  them, and the wave plan. Each site gets an :class:`~shared.messages.UpgradeOrder` (``start``) as a site order
  (:mod:`chalicelib.services.site_orders`: kept until its LMS reports, sent again after its full heartbeats, a fresh
  package URL minted at each publish), and its LMS runs its own campaign machinery (canary, waves, rollback).
* **Progress** comes back as :class:`~shared.messages.UpgradeCampaignReport`\\ s through each LMS's outbox; a report
  is taken only from a site the campaign names (an LMS cannot write another site's progress) and only if later
  than the stored one. **Cancel** orders every site that has not finished to start no further wave.

Who: an operator or admin whose token covers every site of the campaign (a scoped token naming another site is a
403); publishing a package is tenant-wide (an admin with an unscoped token).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.media import MediaStore
from chalicelib.domain.approval import Approval
from chalicelib.domain.site_order import SiteOrder
from chalicelib.domain.token import Principal, Role
from chalicelib.domain.upgrade_campaign import (
    ORDERED,
    CampaignAgent,
    CampaignSite,
    UpgradeCampaign,
    campaign_state,
)
from chalicelib.errors import BadRequest, Conflict, NotFound
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.upgrade_campaign import UpgradeCampaignRepository
from chalicelib.services.site_orders import SiteOrders, upgrade_key
from chalicelib.services.sites import visible_site
from shared.agent_packages import VERSION_PATTERN
from shared.messages.checks import MAX_PACKAGE_BYTES
from shared.topics import SiteDown

if TYPE_CHECKING:
    from shared.messages.structs import UpgradeCampaignReport  # the site's message, decoded by its msgspec mirror

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "agent-packages/"
PACKAGE_TYPE = "application/gzip"
#: how long a package upload form and a package download URL are valid
UPLOAD_EXPIRES_S = 900
DOWNLOAD_EXPIRES_S = 6 * 3600


def package_key(version: str) -> str:
    if not re.match(VERSION_PATTERN, version):
        raise BadRequest(f"version: {version[:40]!r} is not a release version like 1.2.3")
    return f"{PACKAGE_PREFIX}{version}.tar.gz"


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    campaign_id: str
    #: the campaign does not name the reporting site (or does not exist): nothing stored
    refused: bool = False
    site_written: bool = False
    agents_written: int = 0


class UpgradeCampaignService:
    def __init__(self, campaigns: UpgradeCampaignRepository, sites: SiteRepository, agents: AgentRepository,
                 orders: SiteOrders, media: MediaStore | None, clock: Callable[[], float] = time.time) -> None:
        self._campaigns = campaigns
        self._sites = sites
        self._agents = agents
        self._orders = orders
        self._media = media
        self._clock = clock
        orders.add_finisher(SiteDown.UPGRADE, self._with_package_url)

    # ------------------------------------------------------------ packages

    def package_upload(self, version: str, principal: Principal) -> dict[str, Any]:
        """A presigned POST form to upload the package of ``version`` (at most 64 MB) into the media bucket."""
        principal.require(Role.ADMIN, "publishing an agent package")
        principal.require_unscoped("publishing an agent package")
        key = package_key(version)
        if self._media_store().size(key) is not None:
            raise Conflict(f"package {version} is published already (a version never changes)")
        form = self._media_store().presign_post(key, PACKAGE_TYPE, MAX_PACKAGE_BYTES, UPLOAD_EXPIRES_S)
        return {"version": version, "key": key, "upload": form, "expires_in": UPLOAD_EXPIRES_S,
                "max_bytes": MAX_PACKAGE_BYTES}  # fmt: skip

    def _media_store(self) -> MediaStore:
        if self._media is None:
            raise Conflict("agent packages need the tenant's media bucket (CLASSTOP_MEDIA_BUCKET): none is configured")
        return self._media

    # ------------------------------------------------------------ campaigns

    def create(self, principal: Principal, *, version: str, sha256: str, signature: str, site_ids: list[str],
               agent_ids: list[str] | None, canary_percent: float, wave_size: int) -> dict[str, Any]:  # fmt: skip
        principal.require(Role.OPERATOR, "upgrading agents")
        wanted = sorted(set(site_ids))
        principal.require_sites(set(wanted))
        for site_id in wanted:
            site = visible_site(self._sites, site_id, principal)
            if site.retired_at is not None or site.approval is not Approval.APPROVED:
                raise Conflict(f"site {site_id} is {'retired' if site.retired_at else 'not approved'}")
        size = self._media_store().size(package_key(version))
        if size is None:
            raise NotFound(f"no package {version} is published: POST /api/upgrades/packages first")
        if size > MAX_PACKAGE_BYTES:
            raise Conflict(f"package {version} is {size} bytes, over the {MAX_PACKAGE_BYTES}-byte limit")
        per_site = self._agents_per_site(agent_ids, wanted, principal)
        now = self._clock()
        campaign = UpgradeCampaign(
            campaign_id=f"upg-{secrets.token_hex(8)}", version=version, sha256=sha256, signature=signature, size=size,
            site_ids=tuple(wanted), agent_ids=None if agent_ids is None else tuple(sorted(set(agent_ids))),
            canary_percent=canary_percent, wave_size=wave_size, created_by=principal.name[:128], created_at=now,
        )  # fmt: skip
        self._campaigns.create(campaign, [CampaignSite(s, ORDERED) for s in wanted])
        from shared.messages import UpgradeOrder  # here: a site's report (upgrade_reports) never loads pydantic

        for site_id in wanted:
            order = UpgradeOrder(
                action="start", campaign_id=campaign.campaign_id, by=campaign.created_by, timestamp=now,
                version=version, sha256=sha256, signature=signature, package_size=size,
                agent_ids=per_site.get(site_id) if per_site is not None else None,
                canary_percent=canary_percent, wave_size=wave_size,
            )  # fmt: skip
            self._orders.give(site_id, upgrade_key(campaign.campaign_id), SiteDown.UPGRADE, order)
        log.info("upgrade campaign %s: %s to %d site(s), by %s", campaign.campaign_id, version, len(wanted),
                 principal.name)  # fmt: skip
        return self.get(campaign.campaign_id, principal)

    def _agents_per_site(self, agent_ids: list[str] | None, site_ids: list[str],
                         principal: Principal) -> dict[str, list[str]] | None:  # fmt: skip
        if agent_ids is None:
            return None
        known = self._agents.get_many(agent_ids)
        per_site: dict[str, list[str]] = {}
        for agent_id in sorted(set(agent_ids)):
            agent = known.get(agent_id)
            if agent is None or not principal.can_see_site(agent.site_id):
                raise NotFound(f"unknown agent {agent_id}")
            if agent.site_id not in site_ids:
                raise BadRequest(f"agent {agent_id} belongs to site {agent.site_id}, which the campaign does not name")
            per_site.setdefault(agent.site_id, []).append(agent_id)
        missing = [s for s in site_ids if s not in per_site]
        if missing:
            raise BadRequest(f"no listed agent belongs to site(s) {', '.join(missing)}: leave them out")
        return per_site

    def _with_package_url(self, order: SiteOrder, message: dict[str, Any]) -> dict[str, Any]:
        """A start order's package URL, minted at each publish (a stored one would have expired)."""
        if message.get("action") != "start" or not isinstance(message.get("version"), str):
            return message
        url = self._media_store().presign_get(package_key(message["version"]), DOWNLOAD_EXPIRES_S)
        return {**message, "package_url": url, "timestamp": self._clock()}

    def cancel(self, campaign_id: str, principal: Principal) -> dict[str, Any]:
        """No further wave at any site: a cancel order (replacing its start order) to each site not finished."""
        principal.require(Role.OPERATOR, "cancelling an upgrade campaign")
        campaign = self._visible(campaign_id, principal)
        principal.require_sites(set(campaign.site_ids))
        if campaign.cancelled_at is None:
            campaign = self._campaigns.set_cancelled(campaign, self._clock())
        from shared.messages import UpgradeOrder

        for site in self._campaigns.sites(campaign_id):
            if not site.finished:
                order = UpgradeOrder(action="cancel", campaign_id=campaign_id, by=principal.name[:128],
                                     timestamp=self._clock())  # fmt: skip
                self._orders.give(site.site_id, upgrade_key(campaign_id), SiteDown.UPGRADE, order)
        return self.get(campaign_id, principal)

    def get(self, campaign_id: str, principal: Principal) -> dict[str, Any]:
        self._visible(campaign_id, principal)
        whole = self._campaigns.get_whole(campaign_id)
        if whole is None:
            raise NotFound(f"unknown upgrade campaign {campaign_id}")
        campaign, sites, agents = whole
        sites = [s for s in sites if principal.can_see_site(s.site_id)]
        agents = [a for a in agents if principal.can_see_site(a.site_id)]
        counts: dict[str, int] = {}
        for agent in agents:
            counts[agent.state] = counts.get(agent.state, 0) + 1
        return {**campaign.to_dict(), "state": campaign_state(campaign, sites),
                "sites": [s.to_dict() for s in sorted(sites, key=lambda s: s.site_id)],
                "agents": [a.to_dict() for a in sorted(agents, key=lambda a: (a.site_id, a.wave, a.agent_id))],
                "agent_states": counts}  # fmt: skip

    def list(self, principal: Principal, limit: int = 50) -> list[dict[str, Any]]:
        """The newest campaigns touching a site the caller sees, with their sites' states (no agents)."""
        shown: list[dict[str, Any]] = []
        for campaign in self._campaigns.newest(limit):
            if not any(principal.can_see_site(s) for s in campaign.site_ids):
                continue
            sites = [s for s in self._campaigns.sites(campaign.campaign_id) if principal.can_see_site(s.site_id)]
            shown.append({**campaign.to_dict(), "site_ids": [s.site_id for s in sites],
                          "state": campaign_state(campaign, sites), "sites": [s.to_dict() for s in sites]})
        return shown

    def _visible(self, campaign_id: str, principal: Principal) -> UpgradeCampaign:
        campaign = self._campaigns.get(campaign_id)
        if campaign is None or not any(principal.can_see_site(s) for s in campaign.site_ids):
            raise NotFound(f"unknown upgrade campaign {campaign_id}")
        return campaign

    # ------------------------------------------------------------ reports from sites

    def apply_report(self, site_id: str, report: UpgradeCampaignReport) -> ReportOutcome:
        """A site's report on a campaign it was ordered to run: its agents, then its state stored (a later report
        wins); its order is done once it reported (a cancel order: once the site finished)."""
        campaign = self._campaigns.get(report.campaign_id)
        if campaign is None or site_id not in campaign.site_ids:
            log.warning("site %s reported on upgrade campaign %s, which does not name it: ignored", site_id,
                        report.campaign_id)  # fmt: skip
            return ReportOutcome(report.campaign_id, refused=True)
        # the agents first, the site's state last: a reader who sees the site finished (the campaign ``succeeded``)
        # sees the agents' rows of the same report too (the final report carries the last agent's new version)
        agents = sum(
            1 for a in report.agents
            if self._campaigns.save_agent(campaign.campaign_id, CampaignAgent(
                site_id, a.agent_id, a.wave, a.state, a.from_version, a.version, a.detail, a.updated_at))
        )  # fmt: skip
        site = CampaignSite(site_id, report.state, report.lms_campaign_id, report.detail, report.agent_count,
                            report.timestamp)  # fmt: skip
        stored = self._campaigns.save_site(campaign.campaign_id, site)
        if campaign.cancelled_at is None or site.finished:
            self._orders.done(site_id, upgrade_key(campaign.campaign_id))
        return ReportOutcome(campaign.campaign_id, site_written=stored, agents_written=agents)

