"""Table ``…-metric_rollup``: one agent's CPU and memory for one hour, in 5-minute buckets, as its site's LMS
rolled them up.

Key: ``agent_id`` + ``hour`` (start of the hour, epoch seconds): an agent's range of hours is one Query, and an
agent costs one write per hour (docs/data-model.md, "Write budget"). ``buckets`` is the JSON text of the hour's buckets
(``[{start, period_s, samples, cpu_min, cpu_avg, cpu_max, mem_min, mem_avg, mem_max}]``, oldest first).
Expires through ``ttl`` (``METRIC_ROLLUP_RETENTION_S`` after the hour).
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
