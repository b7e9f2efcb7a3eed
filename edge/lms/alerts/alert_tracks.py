"""What the evaluator keeps per rule and target (a *track*), and how a sample's metric is read.

A track exists only while its condition holds, its alert is open, or its recent changes still count for flap
damping: a metric sample inside its thresholds for an agent without a track costs one comparison per rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from shared.messages import Metrics, Severity
from shared.messages.alert import AlertRecord, AlertTarget, FlapDamping, MetricName

#: The site's own alerts (no rule of anyone's: built in), and the condition kinds the cloud never gets from a site.
SITE_BROKER_DOWN: Final = "site_broker_down"
CLOUD_LINK_DOWN: Final = "cloud_link_down"
#: ``cloud_link_down`` is shown on site only: the cloud raises its own from the missing heartbeats.
LOCAL_ONLY_KINDS: Final = frozenset({CLOUD_LINK_DOWN})


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What an alert needs of its rule (a real rule's, or a built-in site alert's)."""

    rule_id: str
    rule_scope: Literal["site", "tenant"]
    name: str
    severity: Severity
    kind: str
    for_s: float
    damping: FlapDamping


@dataclass(slots=True)
class Track:
    key: str
    spec: RuleSpec
    target: AlertTarget
    #: since when the condition has held, waiting for ``for_s`` (None: it does not hold, or the alert is open)
    since: float | None = None
    alert: AlertRecord | None = None
    #: times of the recent firings and resolutions (flap damping)
    changes: deque[float] = field(default_factory=deque)
    #: a flapping alert whose condition cleared: it stays open until stable
    held: bool = False
    value: float | None = None
    message: str = ""
    #: camera conditions currently reported (camera_health)
    active: set[str] = field(default_factory=set)

    def recent_changes(self, now: float) -> int:
        window = self.spec.damping.window_s
        while self.changes and self.changes[0] < now - window:
            self.changes.popleft()
        return self.spec.damping.recent(self.changes, now)


def _load_1(sample: Metrics) -> float | None:
    return sample.load[0] if sample.load else None


def _disk_used(sample: Metrics) -> float | None:
    return max((d.percent for d in sample.disks), default=None)


def _disk_free(sample: Metrics) -> float | None:
    return float(min(max(d.total - d.used, 0) for d in sample.disks)) if sample.disks else None


def _processes(sample: Metrics) -> float | None:
    return float(sample.process_count) if sample.process_count is not None else None


#: How each metric is read from a sample (disk figures: the fullest mount's); None: not in this sample.
METRIC_READERS: Final[dict[MetricName, Callable[[Metrics], float | None]]] = {
    MetricName.CPU_PERCENT: lambda s: s.cpu_percent,
    MetricName.MEM_PERCENT: lambda s: s.mem_percent,
    MetricName.SWAP_PERCENT: lambda s: s.swap_percent,
    MetricName.LOAD_1: _load_1,
    MetricName.DISK_USED_PERCENT: _disk_used,
    MetricName.DISK_FREE_BYTES: _disk_free,
    MetricName.NET_RX_BPS: lambda s: s.net_rx_bps,
    MetricName.NET_TX_BPS: lambda s: s.net_tx_bps,
    MetricName.PROCESS_COUNT: _processes,
}
