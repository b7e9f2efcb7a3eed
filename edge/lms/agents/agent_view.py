"""What the registry hands out about an agent: :class:`AgentView`, a snapshot safe to give to other threads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.lms.agents.agent_rows import AgentRow
from shared.messages import Presence


@dataclass(frozen=True, slots=True)
class AgentView:
    """A snapshot of one agent, safe to hand to other threads."""

    agent_id: str
    name: str
    kind: str
    status: Presence
    last_seen: float | None
    first_seen: float
    hostname: str | None
    version: str | None
    ip_address: str | None
    status_reason: str | None
    status_changed_at: float | None
    settings: dict[str, str] | None
    config_version: str | None = None

    @property
    def online(self) -> bool:
        return self.status is Presence.ONLINE

    def to_dict(self, *, with_settings: bool = False) -> dict[str, Any]:
        """The seed's client object (``GET /api/clients/...``): the agent's id is ``uuid`` there."""
        out: dict[str, Any] = {
            "uuid": self.agent_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status.value,
            "online": self.online,
            "last_seen": self.last_seen,
            "first_seen": self.first_seen,
            "hostname": self.hostname,
            "version": self.version,
            "config_version": self.config_version,
            "ip_address": self.ip_address,
            "status_reason": self.status_reason,
            "status_changed_at": self.status_changed_at,
        }
        if with_settings:
            out["settings"] = self.settings
        return out


def _presence(stored: str) -> Presence:
    """A stored status as a presence: anything but ``online`` (a row written by hand, or by an older LMS) is offline,
    rather than an error that stops the LMS at its start."""
    return Presence.ONLINE if stored == Presence.ONLINE.value else Presence.OFFLINE


def view_of(row: AgentRow) -> AgentView:
    return AgentView(
        agent_id=row.agent_id, name=row.name, kind=row.kind, status=_presence(row.status), last_seen=row.last_seen,
        first_seen=row.first_seen, hostname=row.hostname, version=row.version, ip_address=row.ip_address,
        status_reason=row.status_reason, status_changed_at=row.status_changed_at,
        settings=dict(row.settings) if row.settings is not None else None, config_version=row.config_version,
    )
