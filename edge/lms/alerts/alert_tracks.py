"""What the evaluator keeps per rule and target (a *track*), and how a sample's metric is read.

A track exists only while its condition holds, its alert is open, or its recent changes still count for flap
damping: a metric sample inside its thresholds for an agent without a track costs one comparison per rule.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

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
    rule_scope: str  # "site" | "tenant"
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
        return len(self.changes)


def metric_value(sample: Metrics, metric: MetricName) -> float | None:
    """The figure a metric rule watches in a sample (disk figures: the fullest mount's); None if not reported."""
    if metric is MetricName.CPU_PERCENT:
        return sample.cpu_percent
    if metric is MetricName.MEM_PERCENT:
        return sample.mem_percent
    if metric is MetricName.SWAP_PERCENT:
        return sample.swap_percent
    if metric is MetricName.LOAD_1:
        return sample.load[0] if sample.load else None
    if metric is MetricName.DISK_USED_PERCENT:
        return max((d.percent for d in sample.disks), default=None)
    if metric is MetricName.DISK_FREE_BYTES:
        return float(min((max(d.total - d.used, 0) for d in sample.disks), default=0)) if sample.disks else None
    if metric is MetricName.NET_RX_BPS:
        return sample.net_rx_bps
    if metric is MetricName.NET_TX_BPS:
        return sample.net_tx_bps
    if metric is MetricName.PROCESS_COUNT:
        return float(sample.process_count) if sample.process_count is not None else None
    return None
