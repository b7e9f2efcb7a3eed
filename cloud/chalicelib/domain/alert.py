"""Alerts as the cloud holds them (docs/alerts.md#in-the-cloud): an alert episode of a site (its
:class:`shared.messages.alert.AlertRecord` as last applied, plus who acknowledged it in the cloud), a silence, a
notification channel and a webhook delivery waiting for a retry or dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.messages.enums import AlertState, TargetKind

if TYPE_CHECKING:  # the record's msgspec mirror: not loaded by the API function's import (docs/deploy.md#cold-starts)
    from shared.messages.structs import AlertRecord

#: the longest silence
MAX_SILENCE_S = 30 * 24 * 3600.0


class AlertOrigin(StrEnum):
    """Who evaluates an alert: the site's LMS (it owns ``seq``) or the cloud (``lms_offline``, ``cloud_link_down``)."""

    SITE = "site"
    CLOUD = "cloud"


@dataclass(frozen=True, slots=True)
class Alert:
    site_id: str
    record: AlertRecord
    origin: AlertOrigin = AlertOrigin.SITE
    #: acknowledged through the cloud's API (an LMS's alert keeps its own record; the cloud's act is beside it)
    acked_by: str | None = None
    acked_at: float | None = None
    #: resolved through the cloud's API (cloud alerts only)
    resolved_by: str | None = None

    @property
    def alert_id(self) -> str:
        return self.record.alert_id

    @property
    def is_open(self) -> bool:
        return self.record.state is not AlertState.RESOLVED

    @property
    def state(self) -> AlertState:
        """The record's state, shown ``acknowledged`` once the cloud's API acknowledged a firing alert."""
        if self.record.state is AlertState.FIRING and self.acked_by is not None:
            return AlertState.ACKNOWLEDGED
        return self.record.state

    @property
    def agent_level(self) -> bool:
        return self.record.target.kind is not TargetKind.SITE

    def to_dict(self) -> dict[str, Any]:
        import msgspec

        record: dict[str, Any] = msgspec.to_builtins(self.record)
        acked_by = self.acked_by or record["acknowledged_by"]
        acked_at = self.acked_at if self.acked_at is not None else record["acknowledged_at"]
        return {**record, "site_id": self.site_id, "origin": self.origin.value, "state": self.state.value,
                "acknowledged_by": acked_by, "acknowledged_at": acked_at, "resolved_by": self.resolved_by}


@dataclass(frozen=True, slots=True)
class AlertFilter:
    site_id: str | None = None
    state: AlertState | None = None
    severity: str | None = None
    rule_id: str | None = None
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """Notifications of the alerts it matches are not sent until ``ends_at`` (the alerts are still recorded)."""

    silence_id: str
    site_id: str | None
    rule_id: str | None
    agent_id: str | None
    starts_at: float
    ends_at: float
    created_by: str
    comment: str = ""

    def matches(self, alert: Alert, now: float) -> bool:
        return (self.starts_at <= now < self.ends_at
                and (self.site_id is None or self.site_id == alert.site_id)
                and (self.rule_id is None or self.rule_id == alert.record.rule_id)
                and (self.agent_id is None or self.agent_id == alert.record.target.agent_id))

    def to_dict(self) -> dict[str, Any]:
        return {"silence_id": self.silence_id, "site_id": self.site_id, "rule_id": self.rule_id,
                "agent_id": self.agent_id, "starts_at": self.starts_at, "ends_at": self.ends_at,
                "created_by": self.created_by, "comment": self.comment}


class ChannelKind(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times (``HH:MM`` in ``timezone``) between which a channel gets only critical alerts (the rest wait for
    the digest); ``start`` after ``end`` spans midnight."""

    start: str
    end: str
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Channel:
    channel_id: str
    kind: ChannelKind
    #: the e-mail address, the phone number (E.164) or the https URL
    address: str
    min_severity: str = "warning"
    quiet_hours: QuietHours | None = None
    #: the channel gets the daily digest (and no immediate notifications below ``critical``)
    digest: bool = False
    #: the webhook's signing secret (never shown again once created)
    secret: str | None = None
    #: the SNS subscription of an e-mail or SMS channel
    subscription_arn: str | None = None
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"channel_id": self.channel_id, "kind": self.kind.value, "address": self.address,
                "min_severity": self.min_severity, "digest": self.digest, "created_at": self.created_at,
                "quiet_hours": None if self.quiet_hours is None else {
                    "start": self.quiet_hours.start, "end": self.quiet_hours.end,
                    "timezone": self.quiet_hours.timezone},
                "subscription": None if self.kind is ChannelKind.WEBHOOK else (
                    "pending confirmation" if not self.subscription_arn or self.subscription_arn.startswith("pending")
                    else "subscribed")}


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook delivery that failed: retried with backoff until ``next_at``, dead-lettered after the last try."""

    delivery_id: str
    channel_id: str
    body: str
    attempts: int
    next_at: float
    last_error: str
    dead: bool = False
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, "channel_id": self.channel_id, "attempts": self.attempts,
                "next_at": None if self.dead else self.next_at, "last_error": self.last_error, "dead": self.dead,
                "created_at": self.created_at}
