"""Alerting: typed rules, alert records, and what an LMS sends the cloud about its alerts (docs/alerts.md).

One vocabulary for both tiers:

* An :class:`AlertRule` is a condition (one of the ``*Condition`` models, told apart by ``kind``), a scope, a
  severity and flap damping. Rules are set per tenant (in the cloud) and per site (on the LMS). A tenant's rules
  reach its sites in the named shadow :data:`shared.topics.ALERT_RULES_SHADOW` (:class:`AlertRulesDocument`), so
  that site-level conditions fire on the LMS with the internet down. Conditions an LMS cannot see about itself
  (:data:`CLOUD_ONLY_CONDITIONS`) are evaluated in the cloud.
* An :class:`AlertRecord` is one alert: one rule on one target (an agent, a camera of an agent, or the site),
  with its state (firing → acknowledged → resolved) and a per-alert revision ``seq`` that grows with every change,
  so that the receiver applies each change once and in order whatever the transport repeats.
* :class:`SiteAlerts` carries alert changes LMS → cloud on ``ct/{tenant}/{stage}/site/{site}/up/alerts``, through
  the LMS's outbox (stored and forwarded, in order).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

from shared.messages.base import Count, Message, Strict, require_unique
from shared.messages.checks import alert_target_shape

# an alert's state and target kind live with the other vocabularies (no pydantic: the cloud's domain uses them);
# named here as before
from shared.messages.enums import AlertState as AlertState
from shared.messages.enums import Severity
from shared.messages.enums import TargetKind as TargetKind
from shared.messages.mixins import TargetKey
from shared.messages.mixins import alert_key as alert_key
from shared.topics import ID_PATTERN

#: A rule's id (also the key of an open alert, with its target): like an agent id.
RuleId = Annotated[str, Field(pattern=ID_PATTERN)]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # group and tag names as the LMS stores them
#: The longest duration anything here waits for or looks back over: 7 days.
MAX_DURATION_S: Final = 7 * 24 * 3600.0
#: Rules per tenant document (the shadow holding them must stay under AWS's 8 KB per shadow document).
MAX_TENANT_RULES: Final = 30
#: Rules a site may define on its LMS.
MAX_SITE_RULES: Final = 100
#: Alert changes per :class:`SiteAlerts` message (the LMS splits larger backlogs).
MAX_ALERTS_PER_MESSAGE: Final = 200


class MetricName(StrEnum):
    """What a :class:`MetricThresholdCondition` watches, from the agent's :class:`shared.messages.Metrics` sample.
    Disk figures are the worst mount's (the fullest one)."""

    CPU_PERCENT = "cpu_percent"
    MEM_PERCENT = "mem_percent"
    SWAP_PERCENT = "swap_percent"
    LOAD_1 = "load_1"
    DISK_USED_PERCENT = "disk_used_percent"
    DISK_FREE_BYTES = "disk_free_bytes"
    NET_RX_BPS = "net_rx_bps"
    NET_TX_BPS = "net_tx_bps"
    PROCESS_COUNT = "process_count"


#: Metrics measured in percent: thresholds outside 0-100 are refused for them.
PERCENT_METRICS: Final = frozenset(
    {MetricName.CPU_PERCENT, MetricName.MEM_PERCENT, MetricName.SWAP_PERCENT, MetricName.DISK_USED_PERCENT}
)


class Comparison(StrEnum):
    ABOVE = "above"  # fires while value > threshold, clears when value <= clear
    BELOW = "below"  # fires while value < threshold, clears when value >= clear


class CameraCondition(StrEnum):
    """Camera health the agent reports as ``cctv.<condition>`` events (and ``cctv.<condition>_cleared``)."""

    NO_FRAMES = "no_frames"
    FROZEN = "frozen"
    COVERED = "covered"
    BLURRED = "blurred"
    DISK_LOW = "disk_low"
    DISK_FULL = "disk_full"
    RECORD_ERROR = "record_error"
    ERROR = "error"


class _Condition(Strict):
    # numbers are numbers (``strict``): ``false`` is not 0 and ``"5"`` not 5, on every end (issue 17's fuzz finding)
    #: how long the condition must hold before the alert fires (0: at once)
    for_s: float = Field(
        strict=True, default=0.0, ge=0, le=MAX_DURATION_S, description="seconds the condition must hold"
    )


class MetricThresholdCondition(_Condition):
    """A metric beyond a threshold for ``for_s``, with hysteresis: it clears only past ``clear``."""

    kind: Literal["metric_threshold"] = "metric_threshold"
    metric: MetricName
    op: Comparison = Comparison.ABOVE
    threshold: float = Field(strict=True, ge=0, le=1e15)
    clear: float = Field(
        strict=True, ge=0, le=1e15, description="the value past which a firing alert clears (hysteresis)"
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> MetricThresholdCondition:
        if self.metric in PERCENT_METRICS and (self.threshold > 100 or self.clear > 100):
            raise ValueError(f"{self.metric.value} is a percentage: threshold and clear must be 0-100")
        if self.op is Comparison.ABOVE and self.clear > self.threshold:
            raise ValueError("for 'above', clear must not be above threshold")
        if self.op is Comparison.BELOW and self.clear < self.threshold:
            raise ValueError("for 'below', clear must not be below threshold")
        return self


class AgentOfflineCondition(_Condition):
    """An agent offline at its LMS for longer than ``for_s`` (not raised while its site is unreachable)."""

    kind: Literal["agent_offline"] = "agent_offline"
    for_s: float = Field(strict=True, default=300.0, ge=0, le=MAX_DURATION_S)


class LmsOfflineCondition(_Condition):
    """The site's LMS sent no heartbeat to the cloud for ``for_s`` (evaluated in the cloud)."""

    kind: Literal["lms_offline"] = "lms_offline"
    for_s: float = Field(strict=True, default=180.0, ge=0, le=MAX_DURATION_S)


class CloudLinkDownCondition(_Condition):
    """The LMS's link to the cloud down for ``for_s`` (the cloud sees it by missing heartbeats and Last Will; the
    LMS shows it on site at once)."""

    kind: Literal["cloud_link_down"] = "cloud_link_down"
    for_s: float = Field(strict=True, default=120.0, ge=0, le=MAX_DURATION_S)


class CameraHealthCondition(_Condition):
    """A camera's health event (``cctv.<condition>``) not cleared by its ``_cleared`` event."""

    kind: Literal["camera_health"] = "camera_health"
    conditions: list[CameraCondition] = Field(
        default_factory=lambda: list(CameraCondition), min_length=1, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("conditions")
    @classmethod
    def _unique(cls, v: list[CameraCondition]) -> list[CameraCondition]:
        require_unique(v, "conditions must not repeat")
        return v


class CommandFailureRateCondition(_Condition):
    """Of an agent's commands that ended in the last ``window_s``, at least ``min_commands`` and a fraction of at
    least ``rate`` failed (clears below ``clear_rate``)."""

    kind: Literal["command_failure_rate"] = "command_failure_rate"
    window_s: float = Field(strict=True, default=3600.0, gt=0, le=MAX_DURATION_S)
    min_commands: Count = Field(default=5, ge=1, le=100_000)
    rate: float = Field(strict=True, default=0.5, gt=0, le=1)
    clear_rate: float = Field(strict=True, default=0.25, ge=0, le=1)

    @model_validator(mode="after")
    def _hysteresis(self) -> CommandFailureRateCondition:
        if self.clear_rate > self.rate:
            raise ValueError("clear_rate must not be above rate")
        return self


class ClassTopOfflineInClassCondition(_Condition):
    """A ClassTop desktop client offline for ``for_s`` during one of its own timetable's class periods."""

    kind: Literal["classtop_offline_in_class"] = "classtop_offline_in_class"
    for_s: float = Field(strict=True, default=300.0, ge=0, le=MAX_DURATION_S)


AlertCondition = Annotated[
    MetricThresholdCondition
    | AgentOfflineCondition
    | LmsOfflineCondition
    | CloudLinkDownCondition
    | CameraHealthCondition
    | CommandFailureRateCondition
    | ClassTopOfflineInClassCondition,
    Field(discriminator="kind"),
]

#: Condition kinds only the cloud can evaluate (an LMS cannot report its own absence).
CLOUD_ONLY_CONDITIONS: Final = frozenset({"lms_offline", "cloud_link_down"})


class RuleScope(Strict):
    """Which targets a rule covers: each list that is set narrows it (an empty scope covers everything). ``sites``
    means something only in a tenant's rules; an LMS ignores the rule if its site is not listed."""

    sites: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(default=None, min_length=1, max_length=500)
    groups: list[Annotated[str, Field(pattern=_NAME)]] | None = Field(default=None, min_length=1, max_length=100)
    tags: list[Annotated[str, Field(pattern=_NAME)]] | None = Field(default=None, min_length=1, max_length=100)
    agents: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(default=None, min_length=1, max_length=500)


class FlapDamping(Strict):
    """An alert that changes state more than ``max_changes`` times within ``window_s`` is *flapping*: it stays
    firing, and sends no notification, until it has been stable for ``window_s``."""

    window_s: float = Field(strict=True, default=1800.0, gt=0, le=MAX_DURATION_S)
    max_changes: Count = Field(default=4, ge=1, le=1000)

    # The rule itself, one for both tiers (the LMS's evaluator, the cloud's site alerts). ``changes`` are the
    # times of the alert key's firings and resolutions.

    def recent(self, changes: Iterable[float], now: float) -> int:
        """How many of ``changes`` fall within the window ending ``now``."""
        return sum(1 for at in changes if at >= now - self.window_s)

    def flaps_at_firing(self, recent: int) -> bool:
        """A firing (``recent`` counts it) that makes the key flap: it opens flapping and notifies nobody."""
        return recent > self.max_changes

    def holds_at_clearing(self, flapping: bool, recent: int) -> bool:
        """A clearing that would flap (or of a flapping alert): the alert stays open, flapping, until stable."""
        return flapping or recent + 1 > self.max_changes

    def stable(self, recent: int, changed_at: float, now: float) -> bool:
        """A flapping alert with no change within the window: it resolves (its condition cleared, one
        notification) or goes on firing, not flapping."""
        return recent == 0 and now - changed_at >= self.window_s


class AlertRule(Strict):
    rule_id: RuleId
    name: str = Field(min_length=1, max_length=128)
    enabled: bool = Field(strict=True, default=True)  # a JSON boolean: 0 is not false
    severity: Severity = Severity.WARNING
    condition: AlertCondition
    scope: RuleScope = Field(default_factory=RuleScope)
    damping: FlapDamping = Field(default_factory=FlapDamping)


class AlertRulesDocument(Strict):
    """The desired state of a site's :data:`shared.topics.ALERT_RULES_SHADOW`: the tenant's rules."""

    rules: list[AlertRule] = Field(default_factory=list, max_length=MAX_TENANT_RULES)

    @field_validator("rules")
    @classmethod
    def _unique(cls, v: list[AlertRule]) -> list[AlertRule]:
        require_unique([r.rule_id for r in v], "rule ids must not repeat")
        return v


class AlertTarget(TargetKey, Strict):
    kind: TargetKind
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    camera_id: str | None = Field(default=None, pattern=ID_PATTERN)

    @model_validator(mode="after")
    def _shape(self) -> AlertTarget:
        alert_target_shape(self)
        return self


class AlertRecord(Strict):
    """One alert as it stands after a change. An alert is one episode: it opens firing and ends resolved; the
    same rule on the same target firing again later is a new alert (a new ``alert_id``, the same ``key``). ``seq``
    starts at 1 and grows by one with every change of the alert: a receiver applies a record only if its ``seq``
    is above the one it holds, so repeats and reorderings of the transport change nothing."""

    alert_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="random, 32 hex digits, one per episode")
    key: str = Field(pattern=r"^[0-9a-f]{32}$", description="alert_key(rule_scope, rule_id, target)")
    seq: int = Field(ge=1, le=2**53)
    rule_id: RuleId
    rule_scope: Literal["site", "tenant"]
    rule_name: str = Field(max_length=128)
    severity: Severity
    condition_kind: str = Field(max_length=64, pattern=r"^[a-z_]{1,64}$")
    target: AlertTarget
    state: AlertState
    message: str = Field(default="", max_length=1024)
    value: float | None = None
    opened_at: float = Field(ge=0)
    changed_at: float = Field(ge=0)
    flapping: bool = False
    #: a site alert's count of the agents it stands for (their own alerts are held back meanwhile)
    covers: int | None = Field(default=None, ge=0, le=1_000_000)
    acknowledged_by: str | None = Field(default=None, max_length=128)
    acknowledged_at: float | None = Field(default=None, ge=0)
    resolved_at: float | None = Field(default=None, ge=0)


class SiteAlerts(Message):
    """LMS -> cloud on ``.../up/alerts``: alert changes, in the order they happened."""

    type: Literal["site_alerts"] = "site_alerts"
    alerts: list[AlertRecord] = Field(min_length=1, max_length=MAX_ALERTS_PER_MESSAGE)


class AlertAcknowledgement(Message):
    """cloud -> LMS on ``.../down/alert_ack``: an operator acknowledged one of the site's alerts in the cloud (who,
    when). A site order (``chalicelib.services.site_orders``): resent after the site's full heartbeats until the
    LMS's record of the alert, acknowledged or resolved, comes back up. The LMS acknowledges the alert (the next
    ``seq``) if it is still firing, sends its current record again otherwise, and refuses an alert it does not have
    or whose ``key`` differs (another site's)."""

    type: Literal["alert_ack"] = "alert_ack"
    alert_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    key: str = Field(pattern=r"^[0-9a-f]{32}$")
    acknowledged_by: str = Field(min_length=1, max_length=120)
    acknowledged_at: float = Field(ge=0)
