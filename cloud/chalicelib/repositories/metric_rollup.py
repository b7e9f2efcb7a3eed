"""Agents' metric rollups (``MetricRollupModel``): one item per agent and hour, written whole (a redelivered
hour overwrites itself); read back as :class:`MetricBucket` objects.

``buckets`` is compact JSON text, ``{"v": 2, "b": [[start, period_s, samples, cpu_min, ..., net_tx_max], ...]}``
(one row per bucket, the columns of :data:`BUCKET_FIELDS`, trailing nulls dropped): write units are billed on the
whole item, and the field names repeated in every bucket would cost more than the figures (docs/data-model.md,
"Metric charts"). Items written before it hold a list of objects (``[{start, period_s, ...}]``); both are read
until they expire."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from chalicelib.domain.metric_bucket import BUCKET_FIELDS, MetricBucket
from chalicelib.models.metric_rollup import MetricRollupModel
from chalicelib.repositories.base import dynamo_errors, expiry
from shared.messages.checks import ROLLUP_HOUR_S

if TYPE_CHECKING:  # the site's messages, decoded by their msgspec mirrors (no pydantic)
    from shared.messages.structs import MetricRollup


class MetricRollupRepository:
    def put_many(self, site_id: str, rollups: Iterable[MetricRollup], retention_s: float) -> int:
        """Write the rollups grouped by (agent, hour); return how many items were written."""
        hours: dict[tuple[str, int], list[list[Any]]] = {}
        for r in sorted(rollups, key=lambda r: (r.agent_id, r.start)):
            hours.setdefault((r.agent_id, r.start // ROLLUP_HOUR_S * ROLLUP_HOUR_S), []).append(_row(r))
        items = [
            MetricRollupModel(
                agent_id,
                hour,
                site_id=site_id,
                buckets=encode_buckets(rows),
                ttl=expiry(hour + ROLLUP_HOUR_S + retention_s),
            )
            for (agent_id, hour), rows in hours.items()
        ]
        with (
            dynamo_errors(f"write {len(items)} metric rollup hours of site {site_id}"),
            MetricRollupModel.batch_write() as batch,
        ):
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
            for bucket in decode_buckets(item.buckets):
                if start <= bucket.start < end:
                    out.append(bucket)
        return sorted(out, key=lambda b: b.start)


#: the stored format of ``buckets`` (the first, a list of objects, has no marker)
BUCKETS_FORMAT = 2


def encode_buckets(rows: list[list[Any]]) -> str:
    """An hour's rows (:func:`_row`) as the item's ``buckets`` text."""
    return json.dumps({"v": BUCKETS_FORMAT, "b": rows}, separators=(",", ":"))


def decode_buckets(text: str) -> list[MetricBucket]:
    """An item's ``buckets`` text, in either stored format, as buckets."""
    raw = json.loads(text)
    if isinstance(raw, list):  # the first format: one object per bucket
        return [_bucket(b) for b in raw]
    return [_bucket(dict(zip(BUCKET_FIELDS, row, strict=False))) for row in raw["b"]]


def _row(rollup: MetricRollup) -> list[Any]:
    values = [getattr(rollup, name) for name in BUCKET_FIELDS]
    while values and values[-1] is None:
        values.pop()
    return values


def _bucket(raw: dict[str, Any]) -> MetricBucket:
    return MetricBucket(
        start=int(raw["start"]),
        period_s=int(raw["period_s"]),
        samples=int(raw["samples"]),
        cpu_min=float(raw["cpu_min"]),
        cpu_avg=float(raw["cpu_avg"]),
        cpu_max=float(raw["cpu_max"]),
        **{name: _number(raw.get(name)) for name in BUCKET_FIELDS[6:]},
    )


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
