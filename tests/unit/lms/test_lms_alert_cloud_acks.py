"""Acknowledgements made in the cloud, on the LMS (edge.lms.alerts.cloud_acknowledgements), with the real alerting,
SQLite and outbox: a firing alert is acknowledged (who, when; the next ``seq``, sent up); a repeated order changes
nothing and sends the record again at the same ``seq``; an alert of another site, an unknown one, a local-only one and
a bad message are refused and change nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from edge.lms.alerts import Alerting, CloudAcknowledgements
from edge.lms.auth import Audit
from edge.lms.cloud import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.config.alert_settings import AlertSettings
from edge.lms.store import Store
from shared import topics
from shared.messages import Metrics, encode
from shared.messages.agent import DiskUsage
from shared.messages.alert import AlertAcknowledgement, AlertRule, AlertTarget, TargetKind, alert_key
from shared.names import Namespace
from tests.fixtures.clock import Clock

NS = Namespace("demo", "dev")
UP = topics.site_up(NS, "school-1", topics.SiteUp.ALERTS)
DOWN = topics.site_down(NS, "school-1", topics.SiteDown.ALERT_ACK)
DISK = {"rule_id": "disk", "name": "disk", "condition": {"kind": "metric_threshold", "metric": "disk_used_percent",
                                                         "threshold": 90, "clear": 85, "for_s": 0}}  # fmt: skip


class Site:
    def __init__(self, store: Store) -> None:
        self.clock = Clock(1_700_000_000.0)
        self.store = store
        self.alerting = Alerting(store, AlertSettings(), namespace=NS, site_id="school-1",
                                 known_agents=lambda: ["pc-1"], webhook_secret=None, clock=self.clock)  # fmt: skip
        self.alerting.set_outbox(Outbox(store), lambda: True)
        self.acks = CloudAcknowledgements(self.alerting, Audit(store))

    def disk(self, percent: float) -> None:
        self.alerting.evaluator.on_metrics("pc-1", Metrics(
            timestamp=0, cpu_percent=1, mem_total=1, mem_used=0, mem_percent=0,
            disks=[DiskUsage(mount="/", total=100, used=int(percent), percent=percent)]))  # fmt: skip

    def sent(self) -> list[tuple[str, int, str | None]]:
        """What went up, in order: (state, seq, acknowledged_by)."""
        return [(a["state"], a["seq"], a.get("acknowledged_by")) for r in OutboxRows(self.store).peek(1000)
                if r.topic == UP for a in json.loads(r.payload)["alerts"]]  # fmt: skip

    def order(self, alert_id: str, key: str, by: str = "ops@school.example", at: float = 1_700_000_100.0) -> bytes:
        return encode(AlertAcknowledgement(alert_id=alert_id, key=key, acknowledged_by=by, acknowledged_at=at))

    def audit(self) -> list[tuple[str, str, str]]:
        rows = self.store.query("SELECT actor, target, result FROM audit_log WHERE action = 'alert:acknowledge' "
                                "ORDER BY id")  # fmt: skip
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def site(store: Store) -> Site:
    made = Site(store)
    made.alerting.rules.put(AlertRule.model_validate(DISK), by="test", create=True)
    made.disk(95)
    return made


def firing(site: Site) -> dict[str, Any]:
    (alert,) = site.alerting.evaluator.open_alerts()
    return alert.model_dump(mode="json")


def test_a_firing_alert_is_acknowledged_once_and_the_seq_rules_hold(site: Site) -> None:
    alert = firing(site)
    assert site.sent() == [("firing", 1, None)]
    site.acks.handle(DOWN, site.order(alert["alert_id"], alert["key"]))
    stored = site.alerting.book.get(alert["alert_id"])
    assert stored is not None and stored.state.value == "acknowledged" and stored.seq == 2
    assert (stored.acknowledged_by, stored.acknowledged_at) == ("cloud:ops@school.example", 1_700_000_100.0)
    assert site.sent() == [("firing", 1, None), ("acknowledged", 2, "cloud:ops@school.example")]
    # the order again (resent after a full heartbeat): nothing changes, the record goes up again as it is
    site.acks.handle(DOWN, site.order(alert["alert_id"], alert["key"]))
    assert site.alerting.book.get(alert["alert_id"]).seq == 2  # type: ignore[union-attr]
    assert site.sent()[-1] == ("acknowledged", 2, "cloud:ops@school.example")
    assert (site.acks.acknowledged, site.acks.answered, site.acks.refused) == (1, 1, 0)
    # it resolves as usual, with the next seq
    site.disk(50)
    assert site.sent()[-1][:2] == ("resolved", 3)
    assert site.audit() == [("cloud:ops@school.example", alert["alert_id"], "ok")]


def test_an_order_for_a_resolved_alert_answers_with_its_record(site: Site) -> None:
    alert = firing(site)
    site.disk(50)
    assert site.acks.process(AlertAcknowledgement.model_validate_json(site.order(alert["alert_id"], alert["key"]))) \
        == "answered"  # fmt: skip
    assert site.sent() == [("firing", 1, None), ("resolved", 2, None), ("resolved", 2, None)]


def test_another_sites_alert_an_unknown_one_and_bad_messages_are_refused(site: Site) -> None:
    alert = firing(site)
    other_key = alert_key("site", "disk", AlertTarget(kind=TargetKind.AGENT, agent_id="pc-of-school-2"))
    site.acks.handle(DOWN, site.order(alert["alert_id"], other_key))  # its id, another alert's key
    site.acks.handle(DOWN, site.order(uuid.uuid4().hex, alert["key"]))  # an alert this site does not have
    site.acks.handle(DOWN, b'{"type": "alert_ack", "v": 1, "alert_id": "../x"}')
    site.acks.handle(DOWN, b"\xff")
    assert site.acks.refused == 4 and site.acks.acknowledged == 0
    assert site.alerting.book.get(alert["alert_id"]).seq == 1  # type: ignore[union-attr]
    assert site.sent() == [("firing", 1, None)]
    assert [result for _a, _t, result in site.audit()] == ["refused: not this alert",
                                                           "refused: no such alert on this site"]  # fmt: skip
