"""A command sent from the cloud to one or many agents, and its per-agent outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.agent import AgentFilter
from shared.messages import CommandStatus
from shared.messages.enums import CommandHop, status_rank

__all__ = ["CLOUD_ONLY_PARAMS", "MAX_WAIT_S", "AgentOutcome", "CommandHop", "CommandRecord", "CommandRequest",
           "aggregate_status", "status_rank"]

#: Longest ``?wait=`` a create call may ask for: API Gateway ends a request at 29 s and the API function at 28 s
#: (cloud/.chalice/config.json); the rest of the call (authenticate, store, publish, answer) gets the remainder.
MAX_WAIT_S = 20.0
#: Params that only the cloud's own services set, never a caller: they are credentials (a presigned PUT URL of the
#: tenant's media bucket, made by ``CctvSnapshotService``), so a caller naming one is a 400 (an agent would PUT to
#: any URL it is given: SSRF from the school LAN), and they are stored and shown as :data:`REDACTED` (only the
#: agent, through its site's command message, ever sees them).
CLOUD_ONLY_PARAMS: dict[str, frozenset[str]] = {
    "cctv_snapshot": frozenset({"upload_url"}),  # a presigned PUT: CctvSnapshotService
    "get_logs": frozenset({"upload"}),  # a presigned POST: LogRequestService
}


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A validated API request: which command, for which agents."""

    command: str
    params: dict[str, Any]
    #: the targets, unless ``selector`` names them
    agent_ids: tuple[str, ...] = ()
    timeout_s: float | None = None
    #: a caller-chosen id (the seed's ``request_id``); a new one is generated when absent
    command_id: str | None = None
    #: params only the cloud's own services set (:data:`CLOUD_ONLY_PARAMS`), e.g. a presigned upload URL
    cloud_params: dict[str, Any] = field(default_factory=dict)
    #: a batch: every approved agent it selects that the caller may see (at most ``max_targets``)
    selector: AgentFilter | None = None


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    """Where a command stands on one agent."""

    site_id: str
    status: CommandStatus = CommandStatus.PENDING
    success: bool | None = None
    data: Any = None
    error: str | None = None
    error_code: str | None = None
    updated_at: float = 0.0
    data_truncated: bool = False
    #: when this agent's command passed each hop the site reported, and ``stored`` (epoch seconds)
    hops: dict[CommandHop, float] = field(default_factory=dict)

    def accepts(self, status: CommandStatus) -> bool:
        """A status may only move forward; a terminal status never changes again."""
        return not self.status.terminal and status_rank(status) > status_rank(self.status)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "site_id": self.site_id,
            "status": self.status.value,
            "success": self.success,
            "data": self.data,
            "error": self.error,
            "error_code": self.error_code,
            "updated_at": self.updated_at,
        }
        if self.data_truncated:
            out["data_truncated"] = True
        return out


def aggregate_status(outcomes: Iterable[AgentOutcome]) -> CommandStatus:
    """``pending`` until every agent is terminal; then ``succeeded`` if all succeeded, ``timed_out`` if all
    timed out, ``expired`` if all expired, else ``failed``."""
    statuses = [o.status for o in outcomes]
    if not statuses or not all(s.terminal for s in statuses):
        return CommandStatus.PENDING
    if all(s is CommandStatus.SUCCEEDED for s in statuses):
        return CommandStatus.SUCCEEDED
    if all(s is CommandStatus.TIMED_OUT for s in statuses):
        return CommandStatus.TIMED_OUT
    if all(s is CommandStatus.EXPIRED for s in statuses):
        return CommandStatus.EXPIRED
    return CommandStatus.FAILED


@dataclass(frozen=True, slots=True)
class CommandRecord:
    command_id: str
    command: str
    params: dict[str, Any]
    timeout_s: float
    targets: tuple[str, ...]
    site_ids: tuple[str, ...]
    results: dict[str, AgentOutcome]
    created_by: str
    created_at: float
    updated_at: float
    #: the sites drop the command if it is not delivered by then (epoch seconds).
    expires_at: float
    #: DynamoDB TTL: the record is deleted after this (epoch seconds).
    retain_until: float
    status: CommandStatus = CommandStatus.PENDING
    #: why the command as a whole failed (e.g. it could not be published to a site).
    error: str | None = None
    revision: int | None = field(default=None, compare=False)
    #: site id -> when the cloud published the site's message to IoT Core (epoch seconds)
    sent_at: dict[str, float] = field(default_factory=dict)

    def targets_of(self, site_id: str) -> list[str]:
        return [a for a in self.targets if self.results[a].site_id == site_id]

    def hops_of(self, agent_id: str) -> dict[str, float]:
        """The hops the command passed on its way to one agent and back, in order, with their times."""
        outcome = self.results[agent_id]
        known = {CommandHop.CREATED: self.created_at, **outcome.hops}
        if outcome.site_id in self.sent_at:
            known[CommandHop.SENT] = self.sent_at[outcome.site_id]
        return {hop.value: known[hop] for hop in CommandHop if hop in known}

    def to_dict(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "command": self.command,
            "params": self.params,
            "timeout_s": self.timeout_s,
            "status": self.status.value,
            "targets": list(self.targets),
            "site_ids": list(self.site_ids),
            "results": {agent_id: {**self.results[agent_id].to_dict(), "hops": self.hops_of(agent_id)}
                        for agent_id in self.targets},
            "error": self.error,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
        }
