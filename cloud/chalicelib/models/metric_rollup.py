"""Table ``…-metric_rollup``: one agent's figures (CPU, memory, fullest disk, network rates) for one hour, in
5-minute buckets, as its site's LMS rolled them up.

Key: ``agent_id`` + ``hour`` (start of the hour, epoch seconds): an agent's range of hours is one Query, and an
agent costs one write per hour (docs/data-model.md, "Write budget"). ``packed`` holds the hour's buckets, oldest
first, in the binary format of ``repositories/metric_rollup_format.py`` (≈0.6 KB: one write unit); items written
before it hold ``buckets``, JSON text (``{"v": 2, "b": [[...]]}``, or before disk and network
``[{start, period_s, samples, cpu_min, ...}]``), read until they expire. Expires through ``ttl``
(``METRIC_ROLLUP_RETENTION_S`` after the hour).
"""

from __future__ import annotations

from pynamodb.attributes import BinaryAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class MetricRollupModel(BaseModel, aggregate="metric_rollup"):
    agent_id = UnicodeAttribute(hash_key=True)
    hour = NumberAttribute(range_key=True)
    site_id = UnicodeAttribute()
    #: the hour in format 3 (written since 2026-12-07)
    packed = BinaryAttribute(null=True, legacy_encoding=False)
    #: the hour in format 1 or 2 (items written before; none is written now)
    buckets = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)
