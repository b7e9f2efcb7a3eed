"""Agent upgrade campaigns ordered from the cloud (docs/upgrades.md#campaigns-from-the-cloud).

* ``site_down(ns, site, SiteDown.UPGRADE)``, cloud -> LMS: an :class:`UpgradeOrder` starts (``action: start``) or
  cancels (``action: cancel``) a campaign at that site. The cloud keeps the order until the LMS reports on it and
  sends it again after the LMS's next full site heartbeat, so an LMS offline when the order was given gets it when it
  is back; the LMS handles a campaign id once (a start seen before only reports again).
* ``site_up(ns, site, SiteUp.UPGRADES)``, LMS -> cloud, through the outbox: an :class:`UpgradeCampaignReport`, the
  campaign's state at the site and its agents that changed (at most :data:`MAX_REPORTED_AGENTS` per message; the
  cloud merges agent rows by id).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from shared.agent_packages import SHA256_PATTERN, SIGNATURE_PATTERN, VERSION_PATTERN
from shared.messages.base import Message, Strict, require_unique
from shared.messages.checks import MAX_PACKAGE_BYTES as MAX_PACKAGE_BYTES
from shared.messages.checks import unique_agents
from shared.messages.enums import TERMINAL_SITE_STATES as TERMINAL_SITE_STATES
from shared.topics import ID_PATTERN

#: agents of one report message (each at most ~600 bytes: far under IoT Core's 128 KB)
MAX_REPORTED_AGENTS = 150

CampaignSiteState = Literal["running", "succeeded", "failed", "cancelled", "interrupted", "refused"]
CampaignAgentState = Literal["pending", "sent", "restarting", "upgraded", "rolled_back", "failed", "cancelled"]


class UpgradeOrder(Message):
    """``{"v": 1, "type": "upgrade_order", "action", "campaign_id", "by", "timestamp", ...}``: start (the package
    and the wave plan) or cancel a campaign at one site."""

    type: Literal["upgrade_order"] = "upgrade_order"
    action: Literal["start", "cancel"]
    campaign_id: str = Field(pattern=ID_PATTERN, description="the cloud's id of the campaign")
    by: str = Field(min_length=1, max_length=128, description="who ordered it in the cloud (audited on the LMS)")
    timestamp: float = Field(ge=0, description="when the cloud sent it (epoch s)")
    version: str | None = Field(default=None, pattern=VERSION_PATTERN, description="start: the package's version")
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN, description="start: sha256 of the package")
    signature: str | None = Field(default=None, pattern=SIGNATURE_PATTERN,
                                  description="start: the release key's signature over version + sha256")  # fmt: skip
    package_url: str | None = Field(
        default=None, pattern=r"^https?://", max_length=4096,
        description="start: where the LMS downloads the package when its cache lacks it (a presigned URL)",
    )  # fmt: skip
    package_size: int | None = Field(default=None, ge=1, le=MAX_PACKAGE_BYTES, description="start: its size")
    agent_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(
        default=None, min_length=1, max_length=5000, description="start: the agents (default: every agent of the site)"
    )
    canary_percent: float = Field(default=10.0, gt=0, le=100, description="start: share of the first wave")
    wave_size: int = Field(default=25, ge=1, le=5000, description="start: agents per wave after the canary")

    @model_validator(mode="after")
    def _start_has_package(self) -> Self:
        if self.action == "start" and not (self.version and self.sha256 and self.signature):
            raise ValueError("a start order needs version, sha256 and signature")
        if self.agent_ids is not None:
            require_unique(self.agent_ids, "agent_ids: an agent is listed twice")
        return self


class CampaignAgentReport(Strict):
    """One agent of a campaign at the site (the LMS's ``upgrade_campaign_agents`` row)."""

    agent_id: str = Field(pattern=ID_PATTERN)
    wave: int = Field(ge=0, le=10_000)
    state: CampaignAgentState
    from_version: str | None = Field(default=None, max_length=64)
    version: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=300)
    updated_at: float = Field(ge=0)


class UpgradeCampaignReport(Message):
    """``{"v": 1, "type": "upgrade_campaign_report", "campaign_id", "state", ...}``: the campaign at this site."""

    type: Literal["upgrade_campaign_report"] = "upgrade_campaign_report"
    campaign_id: str = Field(pattern=ID_PATTERN, description="the cloud's id of the campaign")
    state: CampaignSiteState
    lms_campaign_id: int | None = Field(default=None, ge=1, description="the LMS's own id (absent when refused)")
    version: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=500, description="why it failed, or was refused")
    agents: list[CampaignAgentReport] = Field(default_factory=list, max_length=MAX_REPORTED_AGENTS)
    agent_count: int = Field(default=0, ge=0, le=100_000, description="the campaign's agents at the site")
    timestamp: float = Field(ge=0, description="when the LMS made the report (epoch s)")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        unique_agents(self)
        return self
