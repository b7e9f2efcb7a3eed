"""Issue 15's link-down acceptance on the local twin: a real LMS, 20 real agents, the IoT Core stand-in stopped
(the site's link down). The cloud raises exactly one site alert (``covers`` 20) and no agent alerts; the LMS's own
alerts keep firing, being acknowledged and resolving on site meanwhile; once the stand-in is back the backlog of
those alert changes reaches the cloud in order, once each, and the cloud's site alert resolves. And an acknowledgement
made in the cloud reaches the site's LMS.

The cloud runs with short clocks (heartbeats stored every second, a site stale after 6 s, the schedules every
second) so that the test waits seconds, not the production minutes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.twin import Twin
from shared import topics
from shared.messages import decode
from shared.messages.alert import SiteAlerts
from shared.mqtt import IncomingMessage, MqttClient
from shared.names import Namespace
from shared.topics import SiteUp
from tests.fixtures.twin_calls import cloud, eventually, lms
from tests.fixtures.twins import running_twin

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]  # the first test starts a twin of 20 agents

AGENTS = tuple(f"pc-ld{i:02d}" for i in range(20))
SITE_RULE = "e2e-memory"  # a site rule on the LMS that fires at its agent's next sample


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    """This module's own twin: the cloud's heartbeat clocks shortened (its child processes inherit the
    environment), its schedules every second."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CLASSTOP_SITE_TOUCH_INTERVAL_S", "1")
        env.setenv("CLASSTOP_SITE_STALE_S", "6")
        with running_twin("ct-alert-link-down-", agent_ids=AGENTS, site_heartbeat_s=1.0, schedule_every_s=1.0,
                          start_timeout_s=240) as started:  # fmt: skip
            yield started


def cloud_alerts(twin: Twin, **query: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in {"site_id": twin.opt.site_id, "limit": "100", **query}.items())
    status, body = cloud(twin, "GET", f"/api/alerts?{params}")
    assert status == 200, body
    return list(body["data"]["alerts"])


def site_open_alerts(twin: Twin) -> list[dict[str, Any]]:
    return list(lms(twin, "GET", "/api/alerts?state=open")["alerts"])


class AlertWatcher:
    """A privileged observer of the site's ``up/alerts`` on the stand-in, as the site_alerts rule inside IoT Core sees
    them (the LMS sends them with Basic Ingest, ``$aws/rules/<rule>/...``, which only a rules engine receives):
    a persistent session with a QoS 1 subscription, so what the LMS sends right after the restart is kept for it.
    :meth:`ready` waits until the broker holds the subscription (an echo on a second one, subscribed after it)."""

    def __init__(self, twin: Twin) -> None:
        namespace = Namespace(twin.opt.tenant, twin.opt.stage)
        topic = topics.site_up(namespace, twin.opt.site_id, SiteUp.ALERTS)  # the Basic Ingest topic
        self.records: list[dict[str, Any]] = []
        self.echoes = 0
        # a topic of no site: the broker answers subscriptions in order, so an echo here means the first is held
        self.echo_topic = topics.site_up(namespace, "e2e-watcher-echo", SiteUp.STATE)
        self.client = MqttClient(
            twin.iot_core_client("e2e-alert-watcher", session_expiry_s=600, rules_engine=True), name="e2e-alert-watcher"
        )
        self.client.subscribe(topic, self._on_message, qos=1)
        self.client.subscribe(self.echo_topic, self._on_echo, qos=1)

    def _on_echo(self, _msg: IncomingMessage) -> None:
        self.echoes += 1

    def ready(self) -> None:
        self.client.publish(self.echo_topic, b"{}", qos=1)
        eventually(lambda: self.echoes > 0, 30, "the watcher subscribed")

    def _on_message(self, msg: IncomingMessage) -> None:
        self.records.extend(a.model_dump(mode="json") for a in decode(SiteAlerts, msg.payload).alerts)

    def of_rule(self, rule_id: str) -> list[tuple[str, int]]:
        return [(a["state"], a["seq"]) for a in list(self.records) if a["rule_id"] == rule_id]


def test_link_down_one_site_alert_in_the_cloud_local_alerts_on_site_backlog_in_order_once(twin: Twin) -> None:
    broker = twin.cloud_broker
    assert broker is not None
    for rule_id, kind, for_s in (("site-unreachable", "lms_offline", 2), ("cloud-link-down", "cloud_link_down", 1)):
        status, body = cloud(
            twin,
            "PUT",
            f"/api/alert-rules/{rule_id}",
            {"rule_id": rule_id, "name": rule_id, "severity": "critical", "condition": {"kind": kind, "for_s": for_s}},
        )
        assert status == 200, body
    eventually(lambda: cloud(twin, "GET", f"/api/lms/{twin.opt.site_id}")[1]["data"]["agent_count"] == len(AGENTS),
               60, "the cloud counting the site's agents")  # fmt: skip
    # the twin's start may have raised (and resolved) a site alert before the LMS's first heartbeat: none is open
    eventually(lambda: not cloud_alerts(twin, state="firing"), 30, "no open cloud alert before the outage")
    before = {a["alert_id"] for a in cloud_alerts(twin)}
    watcher = AlertWatcher(twin)
    watcher.client.start(wait_s=10)
    watcher.ready()
    try:
        broker.stop()  # the site's link is down: the LMS cannot reach "IoT Core"
        eventually(lambda: lms(twin, "GET", "/api/health")["cloud"]["connected"] is False, 30, "the LMS offline")
        eventually(lambda: [a for a in site_open_alerts(twin) if a["condition_kind"] == "cloud_link_down"], 15,
                   "the link's alert shown on site")  # fmt: skip

        # the LMS's own alerts keep firing on site: a rule set now fires at the agent's next sample, is acknowledged
        # and resolves (its rule deleted) — all while the cloud cannot hear of it
        lms(twin, "POST", "/api/alerts/rules", {
            "rule_id": SITE_RULE, "name": "memory in use", "severity": "warning", "scope": {"agents": [AGENTS[0]]},
            "condition": {"kind": "metric_threshold", "metric": "mem_percent", "threshold": 0.5, "clear": 0.1,
                          "for_s": 0}})  # fmt: skip
        fired = eventually(lambda: [a for a in site_open_alerts(twin) if a["rule_id"] == SITE_RULE], 40,
                           "the site rule's alert firing on site")[0]  # fmt: skip
        assert fired["state"] == "firing" and fired["target"]["agent_id"] == AGENTS[0]
        lms(twin, "POST", f"/api/alerts/{fired['alert_id']}/acknowledge", {})
        lms(twin, "DELETE", f"/api/alerts/rules/{SITE_RULE}")
        resolved = lms(twin, "GET", f"/api/alerts/{fired['alert_id']}")
        assert (resolved["state"], resolved["seq"]) == ("resolved", 3)

        # the cloud: one site alert, covering the 20 agents; none of the agents' own
        site_alert = eventually(lambda: cloud_alerts(twin, state="firing"), 60, "the cloud's site alert")
        time.sleep(4)  # several more evaluations (every second): still one, and no other
        every = [a for a in cloud_alerts(twin) if a["alert_id"] not in before]
        assert [(a["target"]["kind"], a["origin"], a["covers"]) for a in every] == [("site", "cloud", 20)], every
        assert every[0]["alert_id"] == site_alert[0]["alert_id"]
        assert "unreachable" in every[0]["message"]
        status, body = cloud(twin, "GET", f"/api/agents/{AGENTS[0]}")
        assert status == 200 and body["data"]["presence"]["shown"].startswith("unknown — site unreachable since")
        assert watcher.of_rule(SITE_RULE) == []
    finally:
        broker.start()

    # the backlog: in order, once each
    eventually(lambda: cloud(twin, "GET", f"/api/alerts/{fired['alert_id']}")[1].get("data", {}).get("seq") == 3, 120,
               "the backlog applied in the cloud")  # fmt: skip
    eventually(lambda: len(watcher.of_rule(SITE_RULE)) >= 3, 30, "the backlog seen at the stand-in")
    eventually(lambda: not cloud_alerts(twin, state="firing"), 30, "the cloud's site alert resolved")
    time.sleep(3)  # the outbox acknowledged: nothing is sent twice
    watcher.client.stop()
    assert watcher.of_rule(SITE_RULE) == [("firing", 1), ("acknowledged", 2), ("resolved", 3)]
    final = cloud(twin, "GET", f"/api/alerts/{fired['alert_id']}")[1]["data"]
    assert final["state"] == "resolved" and final["acknowledged_by"]
    after = [a for a in cloud_alerts(twin) if a["alert_id"] not in before]
    agent_alerts = [a for a in after if a["target"]["kind"] != "site"]
    assert [a["alert_id"] for a in agent_alerts] == [fired["alert_id"]]  # only the site's backlog
    # the outage's site alert resolved (on a loaded machine the 6 s staleness may open and close another later)
    outage = cloud(twin, "GET", f"/api/alerts/{site_alert[0]['alert_id']}")[1]["data"]
    assert outage["state"] == "resolved", outage


def test_an_acknowledgement_in_the_cloud_reaches_the_site(twin: Twin) -> None:
    eventually(lambda: lms(twin, "GET", "/api/health")["cloud"]["connected"], 60, "the LMS linked")
    rule_id = "e2e-ack"
    lms(twin, "POST", "/api/alerts/rules", {
        "rule_id": rule_id, "name": "memory in use", "severity": "warning", "scope": {"agents": [AGENTS[2]]},
        "condition": {"kind": "metric_threshold", "metric": "mem_percent", "threshold": 0.5, "clear": 0.1,
                      "for_s": 0}})  # fmt: skip
    fired = eventually(lambda: cloud_alerts(twin, rule_id=rule_id, state="firing"), 60, "the alert in the cloud")[0]
    status, body = cloud(twin, "POST", f"/api/alerts/{fired['alert_id']}/acknowledge", {})
    assert status == 200, body

    def on_site() -> dict[str, Any] | None:
        record: dict[str, Any] = lms(twin, "GET", f"/api/alerts/{fired['alert_id']}")
        return record if record["state"] == "acknowledged" else None

    acked = eventually(on_site, 30, "the acknowledgement on site")
    assert acked["seq"] == 2 and acked["acknowledged_by"].startswith("cloud:")
    # and back up: the cloud holds the site's acknowledged record (its order answered)
    eventually(lambda: cloud(twin, "GET", f"/api/alerts/{fired['alert_id']}")[1]["data"]["seq"] == 2, 30,
               "the site's record in the cloud")  # fmt: skip
    lms(twin, "DELETE", f"/api/alerts/rules/{rule_id}")
