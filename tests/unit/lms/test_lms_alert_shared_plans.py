"""At 10,000 agents the alert evaluator keeps one rules table and one metric plan per distinct set of rules, shared
by the agents it covers: each agent still gets its own alerts, and a change of labels or rules plans again."""

from __future__ import annotations

from edge.lms.alerts import ActiveRule, AlertEvaluator, SiteLabels
from edge.lms.store import Store
from shared.messages.alert import AlertRecord, MetricThresholdCondition, RuleScope
from tests.fixtures.clock import Clock
from tests.unit.lms.test_lms_alert_evaluator import Sink, cpu_rule, sample


def fired(sink_changes: list[tuple[AlertRecord, bool]]) -> list[tuple[str, str | None]]:
    return sorted({(r.rule_id, r.target.agent_id) for r, _ in sink_changes})


def test_agents_sharing_rules_get_their_own_alerts_and_a_labels_change_plans_again(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute("INSERT INTO agent_groups (name, created_at) VALUES ('lab', 0)")
        conn.executemany("INSERT INTO agent_group_members (group_name, agent_id) VALUES ('lab', ?)", [("a1",), ("a2",)])
    sink, labels = Sink(), SiteLabels(store)
    ev = AlertEvaluator(sink, labels, site_id="school-1", clock=Clock())
    ev.set_rules([ActiveRule(cpu_rule(rule_id="lab", for_s=0, scope=RuleScope(groups=["lab"])), "site"),
                  ActiveRule(cpu_rule(rule_id="all", for_s=0), "site")])  # fmt: skip
    for agent in ("a1", "a2", "a3"):
        ev.on_metrics(agent, sample(cpu=99))
    assert fired(sink.changes) == [("all", "a1"), ("all", "a2"), ("all", "a3"), ("lab", "a1"), ("lab", "a2")]

    with store.transaction() as conn:  # a3 joins the lab: its rules are those of a1 and a2 now
        conn.execute("INSERT INTO agent_group_members (group_name, agent_id) VALUES ('lab', 'a3')")
    labels.invalidate()
    ev.labels_changed()
    ev.on_metrics("a3", sample(cpu=99))
    ev.on_metrics("a4", sample(cpu=99))
    assert ("lab", "a3") in fired(sink.changes) and ("lab", "a4") not in fired(sink.changes)
    assert ("all", "a4") in fired(sink.changes)

    sink.changes.clear()  # new rules: the lab's rule only, at a lower threshold
    lower = cpu_rule(rule_id="lab2", for_s=0, scope=RuleScope(groups=["lab"]))
    assert isinstance(lower.condition, MetricThresholdCondition)
    lower.condition.threshold, lower.condition.clear = 50, 40
    ev.set_rules([ActiveRule(lower, "site")])
    for agent in ("a1", "a4"):
        ev.on_metrics(agent, sample(cpu=60))
    assert ("lab2", "a1") in fired(sink.changes) and ("lab2", "a4") not in fired(sink.changes)
