"""Agents' metric rollups (``MetricRollupModel``): one item per agent and hour, written whole (a redelivered
hour overwrites itself); read back as :class:`MetricBucket` objects.

The hour is written packed (``packed``, format 3 of ``metric_rollup_format.py``: ≈0.6 KB, one write unit, where the
compact JSON of format 2 was ≈1.3 KB, two); items written before hold ``buckets`` text (formats 1 and 2), read until
they expire. A stored hour that does not decode is skipped with a warning (the chart shows a gap), never a 500
(docs/data-model.md, "Metric charts")."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from chalicelib.domain.metric_bucket import BUCKET_FIELDS, MetricBucket
from chalicelib.models.metric_rollup import MetricRollupModel
from chalicelib.repositories.base import dynamo_errors, expiry
from chalicelib.repositories.metric_rollup_format import CorruptRollup, decode_json, decode_packed, encode_packed
from shared.messages.checks import ROLLUP_HOUR_S

if TYPE_CHECKING:  # the site's messages, decoded by their msgspec mirrors (no pydantic)
    from shared.messages.structs import MetricRollup

log = logging.getLogger(__name__)


class MetricRollupRepository:
    def put_many(self, site_id: str, rollups: Iterable[MetricRollup], retention_s: float) -> int:
        """Write the rollups grouped by (agent, hour); return how many items were written."""
        hours: dict[tuple[str, int], list[MetricBucket]] = {}
        for r in sorted(rollups, key=lambda r: (r.agent_id, r.start)):
            hours.setdefault((r.agent_id, r.start // ROLLUP_HOUR_S * ROLLUP_HOUR_S), []).append(
                MetricBucket(**{name: getattr(r, name) for name in BUCKET_FIELDS})
            )
        items = [
            MetricRollupModel(
                agent_id,
                hour,
                site_id=site_id,
                packed=encode_packed(hour, buckets),
                ttl=expiry(hour + ROLLUP_HOUR_S + retention_s),
            )
            for (agent_id, hour), buckets in hours.items()
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
            try:
                buckets = stored_buckets(item)
            except CorruptRollup as exc:
                log.warning("metric rollup of %s, hour %s skipped: %s", agent_id, item.hour, exc)
                continue
            out.extend(bucket for bucket in buckets if start <= bucket.start < end)
        return sorted(out, key=lambda b: b.start)


def stored_buckets(item: MetricRollupModel) -> list[MetricBucket]:
    """The item's hour, in whichever format it was written (:class:`CorruptRollup` when it does not decode)."""
    if item.packed is not None:
        return decode_packed(int(item.hour), item.packed)
    if item.buckets is not None:
        return decode_json(item.buckets)
    raise CorruptRollup(f"metric rollup hour {item.hour}: neither packed nor buckets is stored")
