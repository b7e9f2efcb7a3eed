"""Table ``…-metric_rollup``: one agent's figures (CPU, memory, fullest disk, network rates) for one hour, in
5-minute buckets, as its site's LMS rolled them up.

Key: ``agent_id`` + ``hour`` (start of the hour, epoch seconds): an agent's range of hours is one Query, and an
agent costs one write per hour (docs/data-model.md, "Write budget"). ``buckets`` is compact JSON text of the hour's
buckets, oldest first (``repositories/metric_rollup.py`` writes and reads it; items written before disk and network
hold ``[{start, period_s, samples, cpu_min, ...}]``). Expires through ``ttl`` (``METRIC_ROLLUP_RETENTION_S`` after
the hour).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class MetricRollupModel(BaseModel, aggregate="metric_rollup"):
    agent_id = UnicodeAttribute(hash_key=True)
    hour = NumberAttribute(range_key=True)
    site_id = UnicodeAttribute()
    buckets = UnicodeAttribute()
    ttl = TTLAttribute(null=True)
