"""Agents' metric rollups (``MetricRollupModel``): one item per agent and hour, written whole (a redelivered
hour overwrites itself)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.models.metric_rollup import MetricRollupModel
from chalicelib.repositories.base import dynamo_errors, expiry
from shared.messages import ROLLUP_HOUR_S, MetricRollup


class MetricRollupRepository:
    def put_many(self, site_id: str, rollups: Iterable[MetricRollup], retention_s: float) -> int:
        """Write the rollups grouped by (agent, hour); return how many items were written."""
        hours: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in sorted(rollups, key=lambda r: (r.agent_id, r.start)):
            bucket = r.model_dump(mode="json", exclude={"agent_id"})
            hours.setdefault((r.agent_id, r.start // ROLLUP_HOUR_S * ROLLUP_HOUR_S), []).append(bucket)
        items = [
            MetricRollupModel(agent_id, hour, site_id=site_id, buckets=json.dumps(buckets, separators=(",", ":")),
                              ttl=expiry(hour + ROLLUP_HOUR_S + retention_s))
            for (agent_id, hour), buckets in hours.items()
        ]
        with dynamo_errors(f"write {len(items)} metric rollup hours of site {site_id}"), \
                MetricRollupModel.batch_write() as batch:
            for item in items:
                batch.save(item)
        return len(items)

    def between(self, agent_id: str, start: int, end: int) -> list[dict[str, Any]]:
        """The agent's buckets with ``start <= bucket start < end``, oldest first."""
        first_hour = start // ROLLUP_HOUR_S * ROLLUP_HOUR_S
        with dynamo_errors(f"read the metric rollups of {agent_id}"):
            items = list(MetricRollupModel.query(agent_id, MetricRollupModel.hour.between(first_hour, end - 1)))
        out: list[dict[str, Any]] = []
        for item in items:
            out.extend({"agent_id": agent_id, "site_id": item.site_id, **b} for b in json.loads(item.buckets)
                       if start <= b["start"] < end)
        return out
