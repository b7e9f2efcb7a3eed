"""Agents' snapshots arriving from their sites (``site_sync`` rule) and read back by the API.

The last-writer rule (docs/protocol.md "Snapshots"), per ``(agent_id, kind)``: the entry with the greatest
``(epoch, version)`` is kept. An older one is ignored; the same ``(epoch, version)`` with the same hash is a
redelivery (ignored); with a different hash it is a conflict: the stored one is kept and the conflict logged.
A site may only write its own agents (an agent the registry places at another site, or does not know, is
rejected). Concurrent writers are serialised by a conditional write and a re-read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.token import Principal
from chalicelib.errors import UpstreamError
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.agent_snapshot import AgentSnapshotRepository, StoredSnapshot
from chalicelib.services.agents import AgentService
from chalicelib.services.optimistic_writes import retry_stale

if TYPE_CHECKING:  # the site's messages, decoded by their msgspec mirrors (no pydantic)
    from shared.messages.structs import SnapshotEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncReport:
    applied: int = 0
    #: older than the stored entry, or a redelivery of it
    ignored: int = 0
    #: the same (epoch, version) as the stored entry with another hash: the stored one was kept
    conflicts: int = 0
    #: entries for agents that are not this site's
    rejected: int = 0


class AgentSnapshotService:
    def __init__(self, snapshots: AgentSnapshotRepository, agent_records: AgentRepository, agents: AgentService,
                 clock: Callable[[], float] = time.time) -> None:
        self._snapshots = snapshots
        self._agent_records = agent_records
        self._agents = agents
        self._clock = clock

    def ingest(self, site_id: str, entries: list[SnapshotEntry]) -> SyncReport:
        known = self._agent_records.get_many({e.agent_id for e in entries})
        applied = ignored = conflicts = rejected = 0
        for entry in entries:
            agent = known.get(entry.agent_id)
            if agent is None or agent.site_id != site_id:
                log.warning("site %s sent a %s snapshot of %s, not one of its agents: rejected", site_id,
                            entry.kind.value, entry.agent_id)
                rejected += 1
                continue
            outcome = self._apply(site_id, entry)
            if outcome == "applied":
                applied += 1
            elif outcome == "conflict":
                conflicts += 1
            else:
                ignored += 1
        return SyncReport(applied, ignored, conflicts, rejected)

    def _apply(self, site_id: str, entry: SnapshotEntry) -> str:
        def attempt() -> str:
            stored = self._snapshots.get(entry.agent_id, entry.kind.value)
            if stored is not None:
                if entry.order() < stored.order():
                    return "ignored"
                if entry.order() == stored.order():
                    if entry.hash == stored.hash:
                        return "ignored"
                    log.warning("conflict: %s snapshot of %s at epoch %s version %d has hash %s, stored %s; "
                                "keeping the stored one", entry.kind.value, entry.agent_id, entry.epoch,
                                entry.version, entry.hash[:12], stored.hash[:12])
                    return "conflict"
            snap = StoredSnapshot(entry.agent_id, entry.kind.value, site_id, entry.epoch, entry.version, entry.hash,
                                  entry.data, entry.updated_at, self._clock())
            self._snapshots.put(snap, stored)
            return "applied"

        return retry_stale(
            attempt, UpstreamError(f"{entry.kind.value} snapshot of {entry.agent_id}: too many concurrent writers")
        )

    def list(self, agent_id: str, principal: Principal) -> dict[str, Any]:
        self._agents.get(agent_id, principal)  # not found unless the caller may see the agent's site
        return {"agent_id": agent_id, "snapshots": [s.to_dict() for s in self._snapshots.list(agent_id)]}
