"""One agent's figures over one time bucket, as the metric rollups hold them (``metric_rollup`` table) or as the
dashboard's charts read them (buckets merged into a coarser step: ``services/metric_history.py``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

#: chart windows end on a multiple of this (seconds): the metrics route's ETag changes this often
WINDOW_ALIGN_S = 300
#: the figures besides CPU, each ``<name>_min``, ``<name>_avg``, ``<name>_max``, absent (``None``) together when no
#: sample had it or the site is older than the figure: memory and the fullest disk (%), network rates (bytes/s)
OPTIONAL_FIGURES = ("mem", "disk", "net_rx", "net_tx")


class MetricRange(StrEnum):
    """The charts' ranges (``?range=``)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """``[start, start + period_s)``: ``samples`` samples; CPU, memory and disk in %, network in bytes/s."""

    start: int
    period_s: int
    samples: int
    cpu_min: float
    cpu_avg: float
    cpu_max: float
    mem_min: float | None = None
    mem_avg: float | None = None
    mem_max: float | None = None
    disk_min: float | None = None
    disk_avg: float | None = None
    disk_max: float | None = None
    net_rx_min: float | None = None
    net_rx_avg: float | None = None
    net_rx_max: float | None = None
    net_tx_min: float | None = None
    net_tx_avg: float | None = None
    net_tx_max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: the bucket's fields in declaration order (the stored row's columns: repositories/metric_rollup.py)
BUCKET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(MetricBucket))
