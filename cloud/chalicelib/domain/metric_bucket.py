"""One agent's CPU and memory over one time bucket, as the metric rollups hold it (``metric_rollup`` table) or as
the dashboard's charts read it (buckets merged into a coarser step: ``services/metric_history.py``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

#: chart windows end on a multiple of this (seconds): the metrics route's ETag changes this often
WINDOW_ALIGN_S = 300


class MetricRange(StrEnum):
    """The charts' ranges (``?range=``)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """``[start, start + period_s)``: ``samples`` samples; percentages (memory absent when no sample had it)."""

    start: int
    period_s: int
    samples: int
    cpu_min: float
    cpu_avg: float
    cpu_max: float
    mem_min: float | None = None
    mem_avg: float | None = None
    mem_max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
