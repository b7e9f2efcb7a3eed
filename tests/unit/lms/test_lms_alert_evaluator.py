"""The LMS's alert evaluator on a fake clock (edge.lms.alerts.evaluator): durations, hysteresis, deduplication,
flap damping, scopes, maintenance, acknowledgement, the site broker storm and the cloud link, bounds."""

from __future__ import annotations

from typing import Any

import pytest

from edge.lms.alerts import ActiveRule, AlertError, AlertEvaluator, SiteLabels
from edge.lms.alerts.evaluator import MAX_CAMERAS_PER_AGENT
from edge.lms.store import Store
from shared.messages import Event, Metrics, Severity
from shared.messages.agent import DiskUsage
from shared.messages.alert import (
    AgentOfflineCondition,
    AlertRecord,
    AlertRule,
    AlertState,
    CameraHealthCondition,
    ClassTopOfflineInClassCondition,
    CommandFailureRateCondition,
    FlapDamping,
    MetricName,
    MetricThresholdCondition,
    RuleScope,
)
from tests.fixtures.clock import Clock


class Sink:
    def __init__(self) -> None:
        self.changes: list[tuple[AlertRecord, bool]] = []

    def alert_changed(self, record: AlertRecord, *, notify: bool) -> None:
        self.changes.append((record, notify))

    @property
    def notified(self) -> list[AlertRecord]:
        return [r for r, n in self.changes if n]

    def states(self) -> list[str]:
        return [r.state.value for r, _ in self.changes]


def cpu_rule(**kw: Any) -> AlertRule:
    cond = MetricThresholdCondition(metric=MetricName.CPU_PERCENT, threshold=90, clear=80, for_s=kw.pop("for_s", 300))
    return AlertRule(rule_id=kw.pop("rule_id", "cpu"), name="cpu", condition=cond, **kw)


def sample(cpu: float = 10.0, disk: float = 10.0) -> Metrics:
    return Metrics(timestamp=0, cpu_percent=cpu, mem_total=1, mem_used=0, mem_percent=0,
                   disks=[DiskUsage(mount="/", total=100, used=int(disk), percent=disk)])  # fmt: skip


def make(store: Store, rules: list[AlertRule], clock: Clock, **kw: Any) -> tuple[AlertEvaluator, Sink]:
    sink = Sink()
    ev = AlertEvaluator(sink, SiteLabels(store), site_id="school-1", clock=clock, **kw)
    ev.set_rules([ActiveRule(r, "site") for r in rules])
    return ev, sink


def test_a_metric_fires_after_its_duration_and_clears_only_past_its_clear_value(store: Store) -> None:
    clock = Clock(1000.0)
    ev, sink = make(store, [cpu_rule()], clock)
    for _ in range(30):  # samples and ticks up to 290 s above 90 %: not yet
        ev.on_metrics("a1", sample(cpu=95))
        ev.tick()
        clock.now += 10
    assert sink.changes == []
    ev.on_metrics("a1", sample(cpu=95))  # 300 s
    assert sink.states() == ["firing"]
    fired = sink.changes[0][0]
    assert fired.value == 95 and fired.target.agent_id == "a1" and sink.changes[0][1]
    for cpu in (85, 81, 95, 85):  # between clear and threshold: still firing, no repeat (one alert per key)
        clock.now += 10
        ev.on_metrics("a1", sample(cpu=cpu))
    assert sink.states() == ["firing"]
    clock.now += 10
    ev.on_metrics("a1", sample(cpu=80))
    assert sink.states() == ["firing", "resolved"]
    resolved = sink.changes[-1][0]
    assert resolved.alert_id == fired.alert_id and resolved.seq == 2 and resolved.resolved_at == clock.now


def test_a_dip_below_the_threshold_restarts_the_duration(store: Store) -> None:
    clock = Clock()
    ev, sink = make(store, [cpu_rule(for_s=60)], clock)
    ev.on_metrics("a1", sample(cpu=95))
    clock.now += 50
    ev.on_metrics("a1", sample(cpu=50))
    clock.now += 20
    ev.on_metrics("a1", sample(cpu=95))
    ev.tick()
    assert sink.changes == []
    clock.now += 60
    ev.tick()  # the timer fires it without a new sample
    assert sink.states() == ["firing"]


def test_a_metric_oscillating_every_10s_for_10_minutes_notifies_at_most_max_changes(store: Store) -> None:
    clock = Clock()
    damping = FlapDamping(window_s=1800, max_changes=4)
    ev, sink = make(store, [cpu_rule(for_s=0, damping=damping)], clock)
    for i in range(60):
        ev.on_metrics("a1", sample(cpu=95 if i % 2 == 0 else 50))
        ev.tick()
        clock.now += 10
    assert 0 < len(sink.notified) <= damping.max_changes
    last = sink.changes[-1][0]
    assert last.state is AlertState.FIRING and last.flapping  # held open while flapping
    # stable (below clear) for the window: resolved once, notified once
    for _ in range(190):
        ev.on_metrics("a1", sample(cpu=50))
        clock.now += 10
        ev.tick()
    assert sink.changes[-1][0].state is AlertState.RESOLVED and sink.changes[-1][1]
    assert sum(1 for r, n in sink.changes if n and r.state is AlertState.RESOLVED) == 3


def test_scopes_group_tag_agent(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO agent_groups (name, created_at) VALUES ('lab', 0)")
        conn.execute("INSERT INTO agent_group_members (group_name, agent_id) VALUES ('lab', 'a1')")
        conn.execute("INSERT INTO agent_tags (agent_id, tag) VALUES ('a2', 'hall')")
    clock = Clock()
    rules = [cpu_rule(rule_id="g", for_s=0, scope=RuleScope(groups=["lab"])),
             cpu_rule(rule_id="t", for_s=0, scope=RuleScope(tags=["hall"])),
             cpu_rule(rule_id="x", for_s=0, scope=RuleScope(agents=["a3"]))]  # fmt: skip
    ev, sink = make(store, rules, clock)
    for agent in ("a1", "a2", "a3", "a4"):
        ev.on_metrics(agent, sample(cpu=99))
    assert sorted((r.rule_id, r.target.agent_id) for r, _ in sink.changes) == [("g", "a1"), ("t", "a2"), ("x", "a3")]


def test_maintenance_holds_an_alert_until_the_window_ends(store: Store) -> None:
    clock = Clock()
    window = {"on": True}
    ev, sink = make(store, [cpu_rule(for_s=0)], clock, in_maintenance=lambda _agent: window["on"])
    ev.on_metrics("a1", sample(cpu=99))
    ev.tick()
    assert sink.changes == []
    window["on"] = False
    clock.now += 1
    ev.tick()
    assert sink.states() == ["firing"]


def test_acknowledge_then_resolve_keeps_who_and_when(store: Store) -> None:
    clock = Clock()
    ev, sink = make(store, [cpu_rule(for_s=0)], clock)
    ev.on_metrics("a1", sample(cpu=99))
    alert = sink.changes[0][0]
    clock.now += 5
    acked = ev.acknowledge(alert.alert_id, "token:ops")
    assert (acked.state, acked.acknowledged_by, acked.acknowledged_at, acked.seq) == (
        AlertState.ACKNOWLEDGED, "token:ops", clock.now, 2)
    assert sink.changes[-1][1] is False  # an acknowledgement is not notified
    ev.on_metrics("a1", sample(cpu=10))
    resolved = sink.changes[-1][0]
    assert resolved.state is AlertState.RESOLVED and resolved.acknowledged_by == "token:ops" and resolved.seq == 3
    with pytest.raises(AlertError):
        ev.acknowledge(alert.alert_id, "token:ops")


def test_site_broker_down_holds_agent_offline_alerts_and_raises_one_site_alert(store: Store) -> None:
    clock = Clock()
    ev, sink = make(store, [AlertRule(rule_id="off", name="off", condition=AgentOfflineCondition(for_s=60))], clock)
    ev.set_site_broker(False, 20)
    for i in range(20):
        ev.on_presence(f"a{i}", False, clock.now)
    clock.now += 600
    ev.tick()
    assert [(r.condition_kind, r.covers) for r, _ in sink.changes] == [("site_broker_down", 20)]
    ev.set_site_broker(True, 20)
    assert sink.changes[-1][0].state is AlertState.RESOLVED
    for i in range(19):
        ev.on_presence(f"a{i}", True)
    clock.now += 61
    ev.tick()  # the one still offline fires after its full duration from the broker's return
    assert [r.target.agent_id for r, _ in sink.changes if r.condition_kind == "agent_offline"] == ["a19"]


def test_cloud_link_down_shows_at_once(store: Store) -> None:
    ev, sink = make(store, [], Clock())
    ev.set_cloud_link(True)
    assert sink.changes == []
    ev.set_cloud_link(False)
    ev.set_cloud_link(False)
    ev.set_cloud_link(True)
    assert [(r.condition_kind, r.state.value) for r, _ in sink.changes] == [
        ("cloud_link_down", "firing"), ("cloud_link_down", "resolved")]


def test_camera_health_and_a_flood_of_cameras_is_bounded(store: Store) -> None:
    clock = Clock()
    ev, sink = make(store, [AlertRule(rule_id="cam", name="cam", condition=CameraHealthCondition())], clock)

    def event(kind: str, camera: str) -> Event:
        return Event(timestamp=0, kind=kind, severity=Severity.ERROR, data={"camera_id": camera})

    ev.on_event("a1", event("cctv.frozen", "cam1"))
    ev.on_event("a1", event("cctv.no_frames", "cam1"))  # the same alert
    ev.on_event("a1", event("cctv.frozen_cleared", "cam1"))
    assert sink.states() == ["firing"]
    ev.on_event("a1", event("cctv.no_frames_cleared", "cam1"))
    assert sink.states() == ["firing", "resolved"]
    for i in range(500):  # a hostile agent inventing cameras
        ev.on_event("a2", event("cctv.frozen", f"c{i}"))
    ev.on_event("a2", event("cctv.frozen", "../../etc"))  # not an id
    assert len([r for r, _ in sink.changes if r.target.agent_id == "a2"]) == MAX_CAMERAS_PER_AGENT


def test_command_failure_rate_with_hysteresis(store: Store) -> None:
    cond = CommandFailureRateCondition(window_s=3600, min_commands=4, rate=0.5, clear_rate=0.25)
    ev, sink = make(store, [AlertRule(rule_id="cmd", name="cmd", condition=cond)], Clock())
    for ok in (True, False, False):
        ev.on_command("a1", ok)
    assert sink.changes == []  # too few
    ev.on_command("a1", False)  # 3 of 4
    assert sink.states() == ["firing"]
    for _ in range(4):  # 3 of 8: still above clear_rate
        ev.on_command("a1", True)
    assert sink.states() == ["firing"]
    for _ in range(5):  # 3 of 13
        ev.on_command("a1", True)
    assert sink.states() == ["firing", "resolved"]


def test_command_results_are_kept_for_the_widest_window_only(store: Store) -> None:
    """A command every 6 s for ten hours (the soak's pace): the results held stay those of the last 600 s, not the
    1,000 a count allows; with no failure-rate rule none are held."""
    clock = Clock(1_000.0)
    narrow = CommandFailureRateCondition(window_s=300, min_commands=4, rate=0.5, clear_rate=0.25)
    wide = CommandFailureRateCondition(window_s=600, min_commands=4, rate=0.5, clear_rate=0.25)
    ev, _sink = make(store, [AlertRule(rule_id="n", name="n", condition=narrow),
                             AlertRule(rule_id="w", name="w", condition=wide)], clock)  # fmt: skip
    bare, _ = make(store, [cpu_rule()], clock)
    for i in range(6_000):
        clock.now += 6
        ev.on_command("a1", True)
        bare.on_command(f"a{i % 3}", True)
    assert ev.command_results_held == 101  # 600 s / 6 s, both ends in
    assert bare.command_results_held == 0
    for _ in range(3):  # the rates still count what the widest window holds
        ev.on_command("a1", False)
    assert ev.command_results_held == 104


def test_classtop_client_offline_in_class(store: Store) -> None:
    clock = Clock(10_000.0)
    in_class = {"now": False}
    rule = AlertRule(rule_id="ct", name="ct", condition=ClassTopOfflineInClassCondition(for_s=60))
    ev, sink = make(store, [rule], clock, in_class=lambda agent, _now: in_class["now"] if agent == "ct1" else None)
    ev.on_presence("ct1", False, clock.now)
    ev.on_presence("pc1", False, clock.now)  # not a ClassTop client
    for _ in range(10):
        clock.now += 30
        ev.tick()
    assert sink.changes == []  # offline, but no class
    in_class["now"] = True
    for _ in range(4):
        clock.now += 30
        ev.tick()
    assert [(r.target.agent_id, r.state.value) for r, _ in sink.changes] == [("ct1", "firing")]
    ev.on_presence("ct1", True)
    assert sink.states() == ["firing", "resolved"]


def test_a_removed_rule_resolves_its_open_alerts(store: Store) -> None:
    ev, sink = make(store, [cpu_rule(for_s=0)], Clock())
    ev.on_metrics("a1", sample(cpu=99))
    ev.set_rules([])
    assert sink.states() == ["firing", "resolved"]


def test_open_alerts_survive_a_restart_without_a_second_alert(store: Store) -> None:
    clock = Clock()
    ev, sink = make(store, [cpu_rule(for_s=0)], clock)
    ev.on_metrics("a1", sample(cpu=99))
    ev2, sink2 = make(store, [cpu_rule(for_s=0)], clock)
    ev2.restore([sink.changes[0][0]])
    ev2.on_metrics("a1", sample(cpu=99))
    assert sink2.changes == []
    ev2.on_metrics("a1", sample(cpu=10))
    assert sink2.changes[0][0].alert_id == sink.changes[0][0].alert_id and sink2.changes[0][0].seq == 2


def test_open_alerts_are_capped(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.lms.alerts.alert_transitions as transitions

    monkeypatch.setattr(transitions, "MAX_OPEN_ALERTS", 5)
    ev, sink = make(store, [cpu_rule(for_s=0)], Clock())
    for i in range(12):
        ev.on_metrics(f"a{i}", sample(cpu=99))
    assert len(sink.changes) == 5 and ev.stats.dropped == 7 and len(ev.open_alerts()) == 5
    ev.on_metrics("a0", sample(cpu=10))  # one resolves: room for one more
    ev.on_metrics("a11", sample(cpu=99))
    assert len(ev.open_alerts()) == 5 and sink.changes[-1][0].target.agent_id == "a11"
