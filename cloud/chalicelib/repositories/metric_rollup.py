"""Agents' metric rollups (``MetricRollupModel``): one item per agent and hour, written whole (a redelivered
hour overwrites itself); read back as :class:`MetricBucket` objects.

An hour's buckets are stored as rows, ``[start - hour, period_s, samples, cpu_min, cpu_avg, cpu_max, mem_min,
mem_avg, mem_max]``: write units are billed per started KB of the whole item, and an hour of 12 buckets takes
≈0.6 KB this way (one unit) against ≈1.7 KB as objects (two; docs/data-model.md#cloud-cost). Items written as
objects before are read as they are."""

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
        hours: dict[tuple[str, int], list[list[Any]]] = {}
        for r in sorted(rollups, key=lambda r: (r.agent_id, r.start)):
            hour = r.start // ROLLUP_HOUR_S * ROLLUP_HOUR_S
            hours.setdefault((r.agent_id, hour), []).append(bucket_row(r, hour))
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
                bucket = _bucket(raw, int(item.hour))
                if start <= bucket.start < end:
                    out.append(bucket)
        return sorted(out, key=lambda b: b.start)


#: a stored row's fields after the bucket's offset in its hour
_ROW = ("period_s", "samples", "cpu_min", "cpu_avg", "cpu_max", "mem_min", "mem_avg", "mem_max")


def bucket_row(rollup: MetricRollup, hour: int) -> list[Any]:
    """How one bucket of ``hour`` is stored (see the module docstring)."""
    return [rollup.start - hour, *(getattr(rollup, name) for name in _ROW)]


def _bucket(raw: list[Any] | dict[str, Any], hour: int) -> MetricBucket:
    if isinstance(raw, list):
        raw = {"start": hour + int(raw[0]), **dict(zip(_ROW, raw[1:], strict=True))}
    return MetricBucket(start=int(raw["start"]), period_s=int(raw["period_s"]), samples=int(raw["samples"]),
                        cpu_min=float(raw["cpu_min"]), cpu_avg=float(raw["cpu_avg"]), cpu_max=float(raw["cpu_max"]),
                        mem_min=_number(raw.get("mem_min")), mem_avg=_number(raw.get("mem_avg")),
                        mem_max=_number(raw.get("mem_max")))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
