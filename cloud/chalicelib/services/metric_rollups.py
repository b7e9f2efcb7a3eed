"""Agents' 5-minute metric rollups arriving from their sites (``site_metrics`` rule).

The LMS sends whole hours (one agent's hour never split across messages); each (agent, hour) is one item written
whole, so a redelivered message rewrites the same items (idempotent) and an agent costs one write per hour. A
site may only report its own agents (an agent the registry does not place at the site is rejected). Items
expire ``retention_s`` after their hour.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.metric_rollup import MetricRollupRepository

if TYPE_CHECKING:
    from shared.messages.structs import MetricRollup  # the site's message, decoded by its msgspec mirror

log = logging.getLogger(__name__)

#: how long a rollup is kept in the cloud
METRIC_ROLLUP_RETENTION_S = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RollupReport:
    #: (agent, hour) items written
    stored: int = 0
    #: rollups of agents that are not this site's
    rejected: int = 0


class MetricRollupService:
    def __init__(self, rollups: MetricRollupRepository, agent_records: AgentRepository,
                 retention_s: float = METRIC_ROLLUP_RETENTION_S) -> None:
        self._rollups = rollups
        self._agent_records = agent_records
        self._retention_s = retention_s

    def ingest(self, site_id: str, rollups: list[MetricRollup]) -> RollupReport:
        known = self._agent_records.get_many({r.agent_id for r in rollups})
        mine = [r for r in rollups if (a := known.get(r.agent_id)) is not None and a.site_id == site_id]
        rejected = len(rollups) - len(mine)
        if rejected:
            log.warning("site %s sent %d metric rollup(s) of agents that are not its own: rejected", site_id,
                        rejected)
        stored = self._rollups.put_many(site_id, mine, self._retention_s) if mine else 0
        return RollupReport(stored, rejected)
