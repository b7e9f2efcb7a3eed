"""An agent upgrade campaign ordered from the cloud, for one or several sites (docs/upgrades.md#campaigns-from-the-
cloud): the campaign, each site's state as its LMS reports it, and each agent's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.messages.enums import TERMINAL_SITE_STATES

#: a site ordered to run the campaign that has not reported yet
ORDERED = "ordered"
#: the most sites one campaign orders
MAX_SITES = 100


@dataclass(frozen=True, slots=True)
class CampaignAgent:
    site_id: str
    agent_id: str
    wave: int
    state: str
    from_version: str | None
    version: str | None
    detail: str | None
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"site_id": self.site_id, "agent_id": self.agent_id, "wave": self.wave, "state": self.state,
                "from_version": self.from_version, "version": self.version, "detail": self.detail,
                "updated_at": self.updated_at}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CampaignSite:
    site_id: str
    #: ``ordered`` (not reported yet), then the LMS's: running, succeeded, failed, cancelled, interrupted, refused
    state: str
    lms_campaign_id: int | None = None
    detail: str | None = None
    agent_count: int = 0
    #: the LMS's time of the report this state comes from (later reports win)
    reported_at: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_SITE_STATES

    def to_dict(self) -> dict[str, Any]:
        return {"site_id": self.site_id, "state": self.state, "lms_campaign_id": self.lms_campaign_id,
                "detail": self.detail, "agent_count": self.agent_count, "reported_at": self.reported_at or None}


@dataclass(frozen=True, slots=True)
class UpgradeCampaign:
    campaign_id: str
    version: str
    sha256: str
    signature: str
    size: int
    site_ids: tuple[str, ...]
    #: ``None``: every agent of each site
    agent_ids: tuple[str, ...] | None
    canary_percent: float
    wave_size: int
    created_by: str
    created_at: float
    cancelled_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "version": self.version, "sha256": self.sha256, "size": self.size,
                "site_ids": list(self.site_ids),
                "agent_ids": None if self.agent_ids is None else list(self.agent_ids),
                "canary_percent": self.canary_percent, "wave_size": self.wave_size, "created_by": self.created_by,
                "created_at": self.created_at, "cancelled_at": self.cancelled_at}  # fmt: skip


def campaign_state(campaign: UpgradeCampaign, sites: list[CampaignSite]) -> str:
    """The campaign's state over its sites: ``running`` (``cancelling`` once cancelled) while any site has not
    finished; then ``succeeded`` if every site did, ``cancelled`` if it was cancelled, else ``failed``."""
    if any(not s.finished for s in sites):
        return "cancelling" if campaign.cancelled_at is not None else "running"
    if sites and all(s.state == "succeeded" for s in sites):
        return "succeeded"
    return "cancelled" if campaign.cancelled_at is not None else "failed"
