"""Agents' metric rollups (``MetricRollupModel``): one item per agent and hour, written whole (a redelivered
hour overwrites itself); read back as :class:`MetricBucket` objects."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.domain.metric_bucket import MetricBucket
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

    def between(self, agent_id: str, start: int, end: int) -> list[MetricBucket]:
        """The agent's buckets with ``start <= bucket start < end``, oldest first: one Query (eventually
        consistent) of the hours they fall in."""
        first_hour = start // ROLLUP_HOUR_S * ROLLUP_HOUR_S
        with dynamo_errors(f"read the metric rollups of {agent_id}"):
            items = list(MetricRollupModel.query(agent_id, MetricRollupModel.hour.between(first_hour, end - 1)))
        out: list[MetricBucket] = []
        for item in items:
            for raw in json.loads(item.buckets):
                bucket = _bucket(raw)
                if start <= bucket.start < end:
                    out.append(bucket)
        return sorted(out, key=lambda b: b.start)


def _bucket(raw: dict[str, Any]) -> MetricBucket:
    return MetricBucket(start=int(raw["start"]), period_s=int(raw["period_s"]), samples=int(raw["samples"]),
                        cpu_min=float(raw["cpu_min"]), cpu_avg=float(raw["cpu_avg"]), cpu_max=float(raw["cpu_max"]),
                        mem_min=_number(raw.get("mem_min")), mem_avg=_number(raw.get("mem_avg")),
                        mem_max=_number(raw.get("mem_max")))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
