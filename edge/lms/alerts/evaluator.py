"""The LMS's alert evaluator: incremental, on each input (a metrics sample, a presence change, an event, a command's
end), with a timer (:meth:`AlertEvaluator.tick`, once a second) only for durations, flap stability, the site's own
links and ClassTop class periods.

Per rule and target it keeps a :class:`~edge.lms.alerts.alert_tracks.Track`: the condition must hold ``for_s``
before the alert fires (outside maintenance windows); a metric clears only past ``clear`` (hysteresis); one alert
per key is open at a time; a key that changes state more than ``damping.max_changes`` times in
``damping.window_s`` is *flapping* (it stays firing, notifies nothing, and resolves once stable for the window).

While the site broker is down, agents' offline alerts are held and one ``site_broker_down`` site alert counts
the agents it covers; ``cloud_link_down`` is shown on site as soon as the cloud link drops. Every change goes to
the :class:`AlertSink` (stored, reported to the cloud, notified), under one lock, in order.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.lms.alerts.alert_tracks import CLOUD_LINK_DOWN, METRIC_READERS, SITE_BROKER_DOWN, RuleSpec, Track
from edge.lms.alerts.alert_transitions import AlertSink, AlertTransitions
from edge.lms.alerts.command_results import CommandResults
from edge.lms.alerts.rule_book import ActiveRule, SiteLabels, scope_covers
from shared.messages import Event, Metrics, Severity
from shared.messages.alert import (
    AlertRecord,
    AlertTarget,
    CameraCondition,
    CameraHealthCondition,
    ClassTopOfflineInClassCondition,
    CommandFailureRateCondition,
    Comparison,
    FlapDamping,
    MetricThresholdCondition,
    TargetKind,
    alert_key,
)
from shared.topics import ID_PATTERN

log = logging.getLogger(__name__)

#: Cameras per agent that may have a camera alert track.
MAX_CAMERAS_PER_AGENT = 16
#: Command results remembered per agent at most (command failure rate); fewer when the rules' widest window ends
#: sooner.
MAX_COMMAND_RESULTS = 1000
#: How often ClassTop clients' class periods are looked at.
CLASS_CHECK_S = 30.0
_CAMERA_CONDITIONS = frozenset(c.value for c in CameraCondition)
_ID = re.compile(ID_PATTERN)
_SITE_DAMPING = FlapDamping(window_s=60.0, max_changes=1000)


@dataclass(frozen=True, slots=True)
class _MetricCheck:
    active: ActiveRule
    read: Callable[[Metrics], float | None]
    above: bool
    threshold: float
    clear: float
    scope: str
    rule_id: str


def _window_s(active: ActiveRule) -> float:
    cond = active.rule.condition
    assert isinstance(cond, CommandFailureRateCondition)
    return cond.window_s


def _spec(active: ActiveRule) -> RuleSpec:
    r = active.rule
    return RuleSpec(r.rule_id, active.scope, r.name, r.severity, r.condition.kind, r.condition.for_s, r.damping)


class AlertEvaluator(AlertTransitions):
    def __init__(
        self, sink: AlertSink, labels: SiteLabels, *, site_id: str, clock: Callable[[], float] = time.time,
        in_maintenance: Callable[[str | None], bool] = lambda _agent: False,
        in_class: Callable[[str, float], bool | None] = lambda _agent, _now: None,
    ) -> None:  # fmt: skip
        super().__init__(sink, clock=clock, in_maintenance=in_maintenance)
        self._labels = labels
        self._site_id = site_id
        self._in_class = in_class
        self._rules: list[ActiveRule] = []
        self._by_agent: dict[str, dict[str, list[ActiveRule]]] = {}  # agent -> kind -> rules covering it
        #: one such table per distinct set of rules, shared by the agents it covers (10,000 agents, a handful)
        self._shared_by_kind: dict[tuple[tuple[str, tuple[int, ...]], ...], dict[str, list[ActiveRule]]] = {}
        self._plans: dict[str, list[_MetricCheck]] = {}  # agent -> its metric rules, ready to compare
        self._shared_plans: dict[tuple[int, ...], list[_MetricCheck]] = {}  # its rules (ids, alive in _rules) -> plan
        self._offline: dict[str, float] = {}  # agent -> offline since
        self._results: dict[str, CommandResults] = {}
        self._last_class_check = 0.0

    # ------------------------------------------------------------ rules and state

    def set_rules(self, rules: Iterable[ActiveRule]) -> None:
        """The rules in force: open alerts of a rule removed resolve; the others follow their rule's new version."""
        with self._lock:
            self._rules = list(rules)
            self._by_agent.clear()
            self._plans.clear()
            specs = {(a.scope, a.rule.rule_id): _spec(a) for a in self._rules}
            now = self._clock()
            for key, track in list(self._tracks.items()):
                if track.spec.kind in (SITE_BROKER_DOWN, CLOUD_LINK_DOWN):
                    continue
                spec = specs.get((track.spec.rule_scope, track.spec.rule_id))
                if spec is None or spec.kind != track.spec.kind:
                    if track.alert is not None:
                        track.message = "its rule was removed or changed kind"
                        self._resolve(track, now, notify=False)
                    self._drop(key)
                else:
                    track.spec = spec

    def labels_changed(self) -> None:
        with self._lock:
            self._by_agent.clear()
            self._plans.clear()

    def restore(self, records: Iterable[AlertRecord]) -> None:
        """The alerts open when the LMS stopped: still open (one per key), their tracks rebuilt."""
        with self._lock:
            for record in records:
                spec = RuleSpec(record.rule_id, record.rule_scope, record.rule_name, record.severity,
                                record.condition_kind, 0.0, FlapDamping())  # fmt: skip
                track = Track(record.key, spec, record.target, alert=record, value=record.value,
                              message=record.message)  # fmt: skip
                self._add(track)
                self._open += 1
            self._by_agent.clear()
            self._plans.clear()
        self.set_rules(self._rules)

    def _rules_for(self, agent_id: str, kind: str) -> list[ActiveRule]:
        by_kind = self._by_agent.get(agent_id)
        if by_kind is None:
            groups, tags = self._labels.labels(agent_id)
            by_kind = {}
            for a in self._rules:
                if scope_covers(a.rule.scope, self._site_id, agent_id, groups, tags):
                    by_kind.setdefault(a.rule.condition.kind, []).append(a)
            if not self._by_agent:  # emptied: the rules or the labels changed, what was shared may be stale
                self._shared_by_kind.clear()
            key = tuple((k, tuple(map(id, rules))) for k, rules in by_kind.items())
            by_kind = self._by_agent[agent_id] = self._shared_by_kind.setdefault(key, by_kind)
        return by_kind.get(kind, [])

    def _track(self, active: ActiveRule, agent_id: str, camera_id: str | None = None, *,
               create: bool) -> Track | None:  # fmt: skip
        scope = active.scope
        key = self._keys.get((scope, active.rule.rule_id, agent_id, camera_id))
        if key is not None:
            return self._tracks[key]
        if not create:
            return None
        kind = TargetKind.CAMERA if camera_id is not None else TargetKind.AGENT
        target = AlertTarget(kind=kind, agent_id=agent_id, camera_id=camera_id)
        return self._add(Track(alert_key(scope, active.rule.rule_id, target), _spec(active), target))

    # ------------------------------------------------------------ inputs

    def _metric_plan(self, agent_id: str) -> list[_MetricCheck]:
        """The metric rules covering an agent, each ready to compare (cached with the scopes)."""
        plan = self._plans.get(agent_id)
        if plan is None:
            if not self._plans:  # emptied: the rules or the labels changed
                self._shared_plans.clear()
            rules = self._rules_for(agent_id, "metric_threshold")
            key = tuple(map(id, rules))  # one plan for the agents covered by the same rules
            plan = self._shared_plans.get(key)
            if plan is None:
                plan = self._shared_plans[key] = []
                for active in rules:
                    cond = active.rule.condition
                    assert isinstance(cond, MetricThresholdCondition)
                    plan.append(_MetricCheck(active, METRIC_READERS[cond.metric], cond.op is Comparison.ABOVE,
                                             cond.threshold, cond.clear, active.scope,
                                             active.rule.rule_id))  # fmt: skip
            self._plans[agent_id] = plan
        return plan

    def on_metrics(self, agent_id: str, sample: Metrics) -> None:
        with self._lock:
            self.stats.samples += 1
            keys = self._keys
            for check in self._metric_plan(agent_id):
                value = check.read(sample)
                if value is None:
                    continue
                key = keys.get((check.scope, check.rule_id, agent_id, None))
                if key is None:  # the common case: no alert, nothing pending; one comparison
                    if (value > check.threshold) if check.above else (value < check.threshold):
                        self._metric_changed(check, agent_id, value, True)
                    continue
                track = self._tracks[key]
                if track.alert is not None:
                    holds = (value > check.clear) if check.above else (value < check.clear)
                else:
                    holds = (value > check.threshold) if check.above else (value < check.threshold)
                self._metric_changed(check, agent_id, value, holds)

    def _metric_changed(self, check: _MetricCheck, agent_id: str, value: float, holds: bool) -> None:
        track = self._track(check.active, agent_id, create=True)
        assert track is not None
        cond = check.active.rule.condition
        assert isinstance(cond, MetricThresholdCondition)
        track.value = value
        where = "above" if check.above else "below"
        track.message = f"{cond.metric.value} {value:g} ({where} {cond.threshold:g}; clears at {cond.clear:g})"
        self._condition(track, holds, self._clock())

    def on_presence(self, agent_id: str, online: bool, since: float | None = None) -> None:
        with self._lock:
            now = self._clock()
            if online:
                self._offline.pop(agent_id, None)
            else:
                self._offline.setdefault(agent_id, since if since is not None else now)
            for kind in ("agent_offline", "classtop_offline_in_class"):
                for active in self._rules_for(agent_id, kind):
                    track = self._track(active, agent_id, create=not online and kind == "agent_offline")
                    if track is None:
                        continue
                    track.message = "online" if online else "offline at the LMS"
                    start = self._offline.get(agent_id, now)
                    if not online and track.since is None and track.alert is None:
                        track.since = start
                    self._condition(track, not online, now)

    def on_event(self, agent_id: str, event: Event) -> None:
        if not event.kind.startswith("cctv."):
            return
        name = event.kind[5:]
        cleared = name.endswith("_cleared")
        base = name[: -len("_cleared")] if cleared else name
        if base not in _CAMERA_CONDITIONS:
            return
        camera_id = event.data.get("camera_id")
        if not isinstance(camera_id, str) or not _ID.match(camera_id):
            return
        with self._lock:
            self.stats.events += 1
            rules = self._rules_for(agent_id, "camera_health")
            if not rules:
                return
            now = self._clock()
            for active in rules:
                cond = active.rule.condition
                assert isinstance(cond, CameraHealthCondition)
                if base not in {c.value for c in cond.conditions}:
                    continue
                track = self._track(active, agent_id, camera_id, create=False)
                if track is None:
                    if cleared or self._cameras_of(agent_id) >= MAX_CAMERAS_PER_AGENT:
                        continue
                    track = self._track(active, agent_id, camera_id, create=True)
                    assert track is not None
                (track.active.discard if cleared else track.active.add)(base)
                track.message = (f"camera {camera_id}: {', '.join(sorted(track.active))}" if track.active
                                 else f"camera {camera_id}: healthy")  # fmt: skip
                self._condition(track, bool(track.active), now)

    def _cameras_of(self, agent_id: str) -> int:
        return len({t.target.camera_id for t in self._tracks.values()
                    if t.target.kind is TargetKind.CAMERA and t.target.agent_id == agent_id})  # fmt: skip

    def on_command(self, agent_id: str, success: bool) -> None:
        with self._lock:
            now = self._clock()
            rules = self._rules_for(agent_id, "command_failure_rate")
            if not rules:  # no rule looks at this agent's results: none are kept
                self._results.pop(agent_id, None)
                return
            results = self._results.get(agent_id)
            if results is None:
                results = self._results[agent_id] = CommandResults(MAX_COMMAND_RESULTS)
            results.add(now, success)
            # Kept for as long as the widest window looks back, not until the count is reached: a result a
            # minute took 17 hours to fill the count, the soak's load more than its run (docs/operations.md, "Soak").
            results.drop_before(now - max(_window_s(active) for active in rules))
            for active in rules:
                cond = active.rule.condition
                assert isinstance(cond, CommandFailureRateCondition)
                count, failed = results.since(now - cond.window_s)
                rate = failed / count if count else 0.0
                track = self._track(active, agent_id, create=False)
                if track is not None and track.alert is not None:
                    holds = rate >= cond.clear_rate
                else:
                    holds = count >= cond.min_commands and rate >= cond.rate
                if not holds and track is None:
                    continue
                track = track or self._track(active, agent_id, create=True)
                assert track is not None
                track.value = round(rate, 4)
                track.message = f"{failed} of {count} commands failed in the last {cond.window_s:g} s"
                self._condition(track, holds, now)

    @property
    def command_results_held(self) -> int:
        """The command results remembered for the failure-rate rules, all agents together."""
        with self._lock:
            return sum(len(results) for results in self._results.values())

    def set_site_broker(self, connected: bool, agents: int) -> None:
        """The LMS's connection to its site broker (asked once a second). Down: agents' offline alerts are held and
        one site alert stands for them; back: the held ones wait their full duration again."""
        with self._lock:
            now = self._clock()
            self._known_agents = agents
            if connected == self._site_broker_up:
                return
            self._site_broker_up = connected
            spec = RuleSpec("site-broker-down", "site", "Site broker unreachable", Severity.CRITICAL,
                            SITE_BROKER_DOWN, 0.0, _SITE_DAMPING)  # fmt: skip
            track = self._site_track(spec)
            track.message = (f"the LMS lost its site broker: presence of {agents} agents unknown" if not connected
                             else "the LMS reached its site broker again")  # fmt: skip
            self._condition(track, not connected, now)
            if connected:
                for t in self._tracks.values():
                    if t.spec.kind == "agent_offline" and t.alert is None and t.since is not None:
                        t.since = now

    def set_cloud_link(self, connected: bool) -> None:
        """The LMS's cloud link (asked once a second): shown on site at once when it drops."""
        with self._lock:
            spec = RuleSpec("cloud-link-down", "site", "Cloud link down", Severity.ERROR, CLOUD_LINK_DOWN, 0.0,
                            _SITE_DAMPING)  # fmt: skip
            track = self._tracks.get(alert_key("site", spec.rule_id, AlertTarget(kind=TargetKind.SITE)))
            if connected and (track is None or track.alert is None):
                return
            track = track or self._site_track(spec)
            track.message = "the cloud link is down" if not connected else "the cloud link is back"
            self._condition(track, not connected, self._clock())

    def _site_track(self, spec: RuleSpec) -> Track:
        target = AlertTarget(kind=TargetKind.SITE)
        track = self._tracks.get(alert_key("site", spec.rule_id, target))
        return track if track is not None else self._add(Track(alert_key("site", spec.rule_id, target), spec, target))

    # ------------------------------------------------------------ the timer

    def tick(self) -> None:
        """Durations that have run out, flapping alerts now stable, ClassTop class periods, idle tracks."""
        with self._lock:
            now = self._clock()
            for key in list(self._due):
                track = self._tracks.get(key)
                if track is None or track.since is None:
                    self._due.discard(key)
                elif now - track.since >= track.spec.for_s:
                    self._fire(track, now)
            if now - self._last_class_check >= CLASS_CHECK_S:
                self._last_class_check = now
                self._check_classes(now)
            for key, track in list(self._tracks.items()):
                if track.alert is not None and track.alert.flapping:
                    if track.spec.damping.stable(track.recent_changes(now), track.alert.changed_at, now):
                        self._stable(track, now)
                elif track.alert is None and track.since is None and track.recent_changes(now) == 0:
                    self._drop(key)

    def _check_classes(self, now: float) -> None:
        for agent_id, since in list(self._offline.items()):
            for active in self._rules_for(agent_id, "classtop_offline_in_class"):
                assert isinstance(active.rule.condition, ClassTopOfflineInClassCondition)
                in_class = self._in_class(agent_id, now)
                if in_class is None:
                    break  # not a ClassTop client
                track = self._track(active, agent_id, create=in_class)
                if track is None:
                    continue
                if in_class and track.since is None and track.alert is None:
                    track.since = max(since, now - CLASS_CHECK_S)
                track.message = "offline during a class period" if in_class else "no class now"
                self._condition(track, in_class, now)
