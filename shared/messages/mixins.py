"""What some messages do besides holding fields, written once for both of their forms: the pydantic model
(``shared.messages``) and its msgspec mirror (``shared.messages.structs``) inherit these (no pydantic here)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

from shared.messages.enums import DisconnectReason
from shared.topics import PresenceEvent

if TYPE_CHECKING:
    from shared.messages.enums import TargetKind


class SnapshotOrder:
    """``SnapshotEntry``'s last-writer order."""

    __slots__ = ()
    if TYPE_CHECKING:  # the fields of the class that inherits this (pydantic would take an annotation as one)
        epoch: str
        version: int

    def order(self) -> tuple[str, int]:
        """The last-writer order: the greatest ``(epoch, version)`` wins."""
        return (self.epoch, self.version)


class TargetKey:
    """``AlertTarget``'s text key."""

    __slots__ = ()
    if TYPE_CHECKING:
        kind: TargetKind
        agent_id: str | None
        camera_id: str | None

    def key(self) -> str:
        """A stable text key of the target: ``site``, ``agent/{id}`` or ``camera/{agent}/{camera}``."""
        return "/".join(p for p in (self.kind.value, self.agent_id, self.camera_id) if p)


def alert_key(scope: Literal["site", "tenant"], rule_id: str, target: TargetKey) -> str:
    """The deduplication key of a rule on a target (at most one alert open per key): stable, 32 hex digits.
    ``scope`` tells a site's rules from the tenant's rules that share an id."""
    raw = f"{scope}\x00{rule_id}\x00{target.key()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class LifecycleReading:
    """What the cloud reads from IoT Core's ``LifecycleEvent``: the event, the disconnection's reason, the order."""

    __slots__ = ()
    if TYPE_CHECKING:
        timestamp: int
        event_type: str
        version_number: int
        disconnect_reason: str | None

    @property
    def event(self) -> PresenceEvent:
        return PresenceEvent(self.event_type)

    @property
    def reason(self) -> DisconnectReason | None:
        """The disconnect's reason (None for a connection); one AWS adds later reads as ``UNKNOWN``."""
        if self.event_type == "connected":
            return None
        known = {r.value for r in DisconnectReason}
        return DisconnectReason(self.disconnect_reason) if self.disconnect_reason in known else DisconnectReason.UNKNOWN

    def order(self) -> tuple[int, int, int]:
        """Later events sort higher: IoT Core's time, then the connection's number, a disconnection after its
        connection."""
        return self.timestamp, self.version_number, 1 if self.event_type == "disconnected" else 0
