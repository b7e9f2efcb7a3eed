"""An agent (classroom PC, server, camera host, or a legacy ClassTop client) as the registry knows it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.domain.approval import Approval
from shared.messages.enums import AgentKind, Presence

if TYPE_CHECKING:  # a site's message (its msgspec mirror): not loaded by the API function's import (docs/deploy.md)
    from shared.messages.structs import AgentPresence

#: a group's or a tag's name
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: most tags one agent carries
MAX_TAGS = 20


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    site_id: str
    status: Presence
    kind: AgentKind = AgentKind.AGENT
    #: when the LMS last saw the agent, as of the last stored change (the registry writes only on change).
    last_seen: float | None = None
    version: str | None = None
    hostname: str | None = None
    #: timestamp of the site heartbeat that last changed this record (orders out-of-order heartbeats).
    changed_at: float = 0.0
    #: at most one group per agent (a room, a lab...), any number of tags
    group: str | None = None
    tags: frozenset[str] = field(default_factory=frozenset)
    approval: Approval = Approval.APPROVED
    #: optimistic-locking revision; ``None`` for a record not stored yet. Counts stored writes.
    revision: int | None = None
    #: the agent's configuration version (docs/protocol.md#versions)
    config_version: str | None = None

    def differs_from(self, presence: AgentPresence) -> bool:
        """Whether a reported presence of this agent (by its own site) changes what is stored: ``last_seen``
        alone is not a change, and neither is ``kind`` (it never changes once stored)."""
        return (
            self.status != presence.status
            or (presence.version is not None and self.version != presence.version)
            or (presence.hostname is not None and self.hostname != presence.hostname)
            or (presence.config_version is not None and self.config_version != presence.config_version)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "site_id": self.site_id,
            "status": self.status.value,
            "kind": self.kind.value,
            "last_seen": self.last_seen,
            "version": self.version,
            "hostname": self.hostname,
            "config_version": self.config_version,
            "changed_at": self.changed_at,
            "group": self.group,
            "tags": sorted(self.tags),
            "approval": self.approval.value,
        }


@dataclass(frozen=True, slots=True)
class AgentFilter:
    """Which agents a listing or a batch command selects; ``None`` means "any"."""

    site_id: str | None = None
    status: Presence | None = None
    group: str | None = None
    tag: str | None = None
    pending: bool = False
