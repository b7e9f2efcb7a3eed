"""Alerts in the cloud: the intake of a site's alert changes (idempotent, order-safe, site-bound), presence per hop,
the cloud's own conditions on the schedule (one site alert covering its agents, their alerts held meanwhile),
acknowledging and resolving with who and when, silences, and the notifications moto's SNS records."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from alert_testkit import agent_record, published_channels, site_alerts, sns_publishes

from chalicelib import container
from chalicelib.handlers.alert_schedules import evaluate_alerts
from chalicelib.models import AlertModel
from chalicelib.repositories.alert import AlertRepository
from chalicelib.repositories.site import SiteRepository
from shared.messages import decode
from shared.messages.alert import AlertAcknowledgement
from shared.topics import SiteDown, site_down
from tests.unit.cloud.cloud_testkit import SETTINGS, Cloud, online, running_cloud


@dataclasses.dataclass
class Alerting:
    cloud: Cloud
    topic_arn: str
    channel_id: str

    def ingest(self, site_id: str, *records: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.cloud.invoke("site_alerts", site_alerts(site_id, *records))
        return answer

    def publishes(self) -> list[tuple[str | None, str, dict[str, Any]]]:
        answer: list[tuple[str | None, str, dict[str, Any]]] = sns_publishes(self.topic_arn)
        return answer


@pytest.fixture
def alerting() -> Iterator[Alerting]:
    """A cloud with the tenant's alerts topic and one e-mail channel (every severity); site s1 with 20 agents."""
    with running_cloud() as cloud:
        arn = boto3.client("sns", region_name=SETTINGS.region).create_topic(Name="alerts")["TopicArn"]
        container.configure(settings=dataclasses.replace(container.get().settings, alerts_topic_arn=arn))
        made = cloud.post("/api/alert-channels", {"kind": "email", "address": "ops@school.example",
                                                  "min_severity": "info"})
        assert made.status_code == 201, made.json_body
        cloud.heartbeat("s1", [online(f"pc-{i}") for i in range(20)])
        cloud.heartbeat("s2", [online("b1")])
        yield Alerting(cloud, arn, made.json_body["data"]["channel_id"])


def stored(alert_id: str) -> dict[str, Any]:
    alert = AlertRepository(SETTINGS.tenant, SETTINGS.alert_retention_s).get(alert_id)
    assert alert is not None
    return alert.to_dict()


# ---------------------------------------------------------------- intake


def test_each_change_applies_once_and_in_order_whatever_the_transport_repeats(alerting: Alerting) -> None:
    first = agent_record("pc-1")
    alert_id = first["alert_id"]
    assert alerting.ingest("s1", first)["applied"] == 1
    assert alerting.ingest("s1", first) == {**alerting.ingest("s1", first), "applied": 0, "ignored": 1}  # a resend
    resolved = agent_record("pc-1", seq=3, state="resolved", alert_id=alert_id)
    acked = agent_record("pc-1", seq=2, state="acknowledged", alert_id=alert_id, acknowledged_by="lms:amy",
                         acknowledged_at=1_700_000_001.0)
    assert alerting.ingest("s1", resolved)["applied"] == 1
    assert alerting.ingest("s1", acked)["ignored"] == 1  # arrived late: the stored seq 3 stands
    got = alerting.cloud.get(f"/api/alerts/{alert_id}").json_body["data"]
    assert (got["state"], got["seq"], got["site_id"]) == ("resolved", 3, "s1")
    # one notification when it fired, one when it resolved: none for the resend or the late record
    assert [s for s, _m, _a in alerting.publishes()] == ["[error] Disk almost full fired at site s1",
                                                         "[error] Disk almost full resolved at site s1"]
    assert published_channels(alerting.topic_arn) == [alerting.channel_id] * 2


def test_a_site_cannot_overwrite_another_sites_alert(alerting: Alerting) -> None:
    """Attack: an LMS replays another site's alert id with a higher seq to resolve it (or to take it over)."""
    theirs = agent_record("pc-1")
    alerting.ingest("s1", theirs)
    forged = agent_record("b1", seq=9, state="resolved", alert_id=theirs["alert_id"])
    assert alerting.ingest("s2", forged)["ignored"] == 1
    assert stored(theirs["alert_id"])["state"] == "firing" and stored(theirs["alert_id"])["site_id"] == "s1"


def test_alerts_of_an_unknown_or_retired_site_are_refused(alerting: Alerting) -> None:
    assert alerting.ingest("nowhere", agent_record("x1"))["refused"] is True
    assert AlertModel.count() == 0  # test-only inspection: nothing stored


def test_a_bad_message_is_dropped_and_stores_nothing(alerting: Alerting) -> None:
    bad = agent_record("pc-1", seq=0)  # seq starts at 1
    answer = alerting.cloud.invoke("site_alerts", site_alerts("s1", bad))
    assert answer["ok"] is False and AlertModel.count() == 0


def test_a_flapping_alert_notifies_only_once_stable(alerting: Alerting) -> None:
    first = agent_record("pc-2", flapping=True)
    alerting.ingest("s1", first)
    assert alerting.publishes() == []
    alerting.ingest("s1", agent_record("pc-2", seq=2, alert_id=first["alert_id"], flapping=False))
    assert len(alerting.publishes()) == 1


# ---------------------------------------------------------------- presence per hop


def test_presence_per_hop_shows_unknown_not_offline_while_the_site_is_unreachable(alerting: Alerting) -> None:
    cloud = alerting.cloud
    agent = cloud.get("/api/agents/pc-1").json_body["data"]
    assert agent["presence"]["state"] == "online" and agent["presence"]["shown"] == "online"
    assert {h: v["state"] for h, v in agent["presence"]["hops"].items()} == {"agent": "online", "lms": "up",
                                                                              "link": "up"}
    cloud.clock.advance(SETTINGS.site_stale_s + 1)
    listed = cloud.get("/api/agents?site_id=s1").json_body["data"]["agents"]
    assert len(listed) == 20
    for agent in listed:
        presence = agent["presence"]
        assert presence["state"] == "unknown"
        assert presence["shown"] == "unknown — site unreachable since 2023-11-14T22:13:20Z"
        assert presence["hops"]["link"] == {"state": "down", "reason": "missed_heartbeats",
                                            "since": 1_700_000_000.0, "last_seen": 1_700_000_000.0}
        assert presence["hops"]["lms"]["state"] == "unknown"
        assert agent["status"] == "online"  # what its LMS last said, not rewritten


def test_presence_says_why_a_link_dropped_from_iot_lifecycle(alerting: Alerting) -> None:
    sites = SiteRepository(SETTINGS.tenant)
    site = sites.get("s1")
    assert site is not None
    sites.save(dataclasses.replace(site, link_state="disconnected", link_changed_at=site.last_heartbeat + 5,
                                   link_reason="clean_shutdown"))
    hops = alerting.cloud.get("/api/agents/pc-1").json_body["data"]["presence"]["hops"]
    assert hops["link"]["reason"] == "clean_shutdown" and hops["agent"]["reason"] == "site_unreachable"


# ---------------------------------------------------------------- the cloud's conditions


def test_a_silent_site_raises_one_site_alert_covering_its_agents_and_none_of_theirs(alerting: Alerting) -> None:
    cloud = alerting.cloud
    cloud.clock.advance(60)
    assert evaluate_alerts({})["opened"] == 0  # not silent long enough
    cloud.clock.advance(400)
    assert evaluate_alerts({})["opened"] == 2  # s1 and s2: one each
    for _ in range(3):
        cloud.clock.advance(60)
        assert evaluate_alerts({})["opened"] == 0  # one open alert per site: no repeats
    alerts = cloud.get("/api/alerts?site_id=s1").json_body["data"]["alerts"]
    assert len(alerts) == 1
    site_alert = alerts[0]
    assert (site_alert["target"], site_alert["covers"], site_alert["origin"]) == ({"kind": "site", "agent_id": None,
                                                                                   "camera_id": None}, 20, "cloud")
    assert site_alert["rule_id"] == "cloud-link-down" and "covers 20 agent(s)" in site_alert["message"]
    assert cloud.get("/api/alerts?site_id=s2").json_body["data"]["alerts"] != []  # s2 is silent too
    notified = len(alerting.publishes())
    # the site's backlog arrives while its site alert is open: stored, nobody notified for its agents
    held = alerting.ingest("s1", agent_record("pc-3", rule_id="agent-offline"))
    assert held["applied"] == 1 and held["held"] == 1 and len(alerting.publishes()) == notified
    # heartbeats again: the site alert resolves, once
    cloud.heartbeat("s1", [online(f"pc-{i}") for i in range(20)])
    assert evaluate_alerts({})["resolved"] == 1
    assert evaluate_alerts({})["resolved"] == 0
    got = cloud.get(f"/api/alerts/{site_alert['alert_id']}").json_body["data"]
    assert got["state"] == "resolved" and got["seq"] == 2
    assert sum("resolved at site s1" in (s or "") for s, _m, _a in alerting.publishes()) == 1


def test_a_flapping_site_is_damped_as_on_the_lms(alerting: Alerting) -> None:
    """The site's heartbeats stop and come back again and again: its cloud alert notifies at most ``max_changes``
    times per window, stays open (flapping) through the flaps, and resolves once when stable for the window."""
    cloud = alerting.cloud
    rule = {"rule_id": "cloud-link-down", "name": "link down", "severity": "error",
            "condition": {"kind": "cloud_link_down", "for_s": 60}, "damping": {"window_s": 3600, "max_changes": 2}}
    assert cloud.put("/api/alert-rules/cloud-link-down", rule).status_code == 200

    def s1_notices() -> list[str]:
        return [subject or "" for subject, _m, _a in alerting.publishes() if (subject or "").endswith("site s1")]

    def back() -> None:  # a heartbeat that only says the site is there
        cloud.heartbeat("s1", [], full=False)
        evaluate_alerts({})

    opened: set[str] = set()
    for _ in range(6):  # down 5 minutes, back: every ~6 minutes, six times
        cloud.clock.advance(SETTINGS.site_stale_s + 120)
        evaluate_alerts({})
        opened |= {a["alert_id"] for a in cloud.get("/api/alerts?site_id=s1").json_body["data"]["alerts"]}
        back()
    # fired, resolved (2 changes), then fired flapping: no more notices, one alert held open through the rest
    assert s1_notices() == ["[error] link down fired at site s1", "[error] link down resolved at site s1"]
    assert len(opened) == 2
    (held,) = cloud.get("/api/alerts?site_id=s1&state=firing").json_body["data"]["alerts"]
    assert held["flapping"] is True
    # stable (up at each evaluation) for the window: resolved, one notification
    cloud.clock.advance(1800)
    back()
    assert cloud.get(f"/api/alerts/{held['alert_id']}").json_body["data"]["state"] == "firing"  # not a window yet
    cloud.clock.advance(1900)
    back()
    done = cloud.get(f"/api/alerts/{held['alert_id']}").json_body["data"]
    assert done["state"] == "resolved" and done["flapping"] is True
    assert s1_notices()[2:] == ["[error] link down resolved at site s1"]


def test_a_flapping_site_alert_still_down_when_stable_fires_plainly_again(alerting: Alerting) -> None:
    cloud = alerting.cloud
    rule = {"rule_id": "cloud-link-down", "name": "link down", "severity": "error",
            "condition": {"kind": "cloud_link_down", "for_s": 60}, "damping": {"window_s": 600, "max_changes": 1}}
    assert cloud.put("/api/alert-rules/cloud-link-down", rule).status_code == 200
    cloud.clock.advance(SETTINGS.site_stale_s + 120)
    evaluate_alerts({})  # fired (1 change)
    cloud.heartbeat("s1", [], full=False)
    evaluate_alerts({})  # clearing would be the 2nd change: held open, flapping
    (alert,) = cloud.get("/api/alerts?site_id=s1&state=firing").json_body["data"]["alerts"]
    assert (alert["flapping"], alert["seq"]) == (True, 2)
    cloud.clock.advance(SETTINGS.site_stale_s + 700)  # down again, and no change for the window
    evaluate_alerts({})
    again = cloud.get(f"/api/alerts/{alert['alert_id']}").json_body["data"]
    assert (again["state"], again["flapping"], again["seq"]) == ("firing", False, 3)
    s1 = [subject for subject, _m, _a in alerting.publishes() if (subject or "").endswith("site s1")]
    assert s1 == ["[error] link down fired at site s1", "[error] link down fired at site s1"]


# ---------------------------------------------------------------- acting on alerts


def test_acknowledge_keeps_who_and_when_and_resolve_is_for_cloud_alerts(alerting: Alerting) -> None:
    cloud = alerting.cloud
    record = agent_record("pc-1")
    alerting.ingest("s1", record)
    acked = cloud.post(f"/api/alerts/{record['alert_id']}/acknowledge", {}, role="operator").json_body["data"]
    assert (acked["state"], acked["acknowledged_by"], acked["acknowledged_at"]) == ("acknowledged", "test-operator",
                                                                                    cloud.clock.now)
    refused = cloud.post(f"/api/alerts/{record['alert_id']}/resolve", {}, role="operator")
    assert refused.status_code == 409 and "resolves on its LMS" in refused.json_body["error"]["message"]
    cloud.clock.advance(1000)
    evaluate_alerts({})
    site_alert = cloud.get("/api/alerts?site_id=s1&state=firing").json_body["data"]["alerts"][0]
    done = cloud.post(f"/api/alerts/{site_alert['alert_id']}/resolve", {}, role="operator").json_body["data"]
    assert (done["state"], done["resolved_by"], done["resolved_at"]) == ("resolved", "test-operator",
                                                                         cloud.clock.now)


def ack_orders(cloud: Cloud) -> list[dict[str, Any]]:
    topic = site_down(SETTINGS.namespace, "s1", SiteDown.ALERT_ACK)
    return [json.loads(m.payload) for m in cloud.publisher.messages if m.topic == topic]


def test_an_acknowledgement_goes_down_to_the_site_until_its_record_answers(alerting: Alerting) -> None:
    cloud = alerting.cloud
    record = agent_record("pc-1")
    alerting.ingest("s1", record)
    cloud.post(f"/api/alerts/{record['alert_id']}/acknowledge", {}, role="operator")
    cloud.post(f"/api/alerts/{record['alert_id']}/acknowledge", {}, role="operator")  # again: no second order
    (order,) = ack_orders(cloud)
    sent = decode(AlertAcknowledgement, json.dumps(order).encode())
    assert (sent.alert_id, sent.key, sent.acknowledged_by, sent.acknowledged_at) == (
        record["alert_id"], record["key"], "test-operator", cloud.clock.now)  # fmt: skip
    # unanswered (the LMS offline): its full heartbeats after the resend delay bring it again
    cloud.clock.advance(SETTINGS.order_resend_s + 1)
    cloud.heartbeat("s1", [online(f"pc-{i}") for i in range(20)])
    assert len(ack_orders(cloud)) == 2
    # a firing record (the alert changed otherwise) does not answer it
    alerting.ingest("s1", agent_record("pc-1", seq=2, alert_id=record["alert_id"], message="disk 97 % used"))
    assert len(container.get().site_orders.of_site("s1")) == 1
    # the LMS acknowledged it: its record answers the order, which goes no more
    alerting.ingest("s1", agent_record("pc-1", seq=3, state="acknowledged", alert_id=record["alert_id"],
                                       acknowledged_by="cloud:test-operator", acknowledged_at=cloud.clock.now))
    assert container.get().site_orders.of_site("s1") == []
    cloud.clock.advance(SETTINGS.order_resend_s + 1)
    cloud.heartbeat("s1", [online(f"pc-{i}") for i in range(20)])
    assert len(ack_orders(cloud)) == 2
    assert stored(record["alert_id"])["seq"] == 3


def test_a_resent_record_answers_the_order_and_cloud_alerts_send_none(alerting: Alerting) -> None:
    cloud = alerting.cloud
    record = agent_record("pc-2", seq=2, state="resolved")  # resolved on site before the order arrived
    alerting.ingest("s1", agent_record("pc-2", alert_id=record["alert_id"]))
    cloud.post(f"/api/alerts/{record['alert_id']}/acknowledge", {}, role="operator")
    assert len(container.get().site_orders.of_site("s1")) == 1
    alerting.ingest("s2", {**record, "seq": 3})  # another site naming that alert: answers nothing, changes nothing
    assert len(container.get().site_orders.of_site("s1")) == 1 and stored(record["alert_id"])["seq"] == 1
    alerting.ingest("s1", record)
    alerting.ingest("s1", record)  # the LMS's answer to a repeated order: the same seq again
    assert container.get().site_orders.of_site("s1") == [] and stored(record["alert_id"])["seq"] == 2
    # a cloud alert (the site silent) is the cloud's own: no order
    cloud.clock.advance(1000)
    evaluate_alerts({})  # s1 and s2 silent: cloud alerts
    site_alert = cloud.get("/api/alerts?site_id=s1&state=firing").json_body["data"]["alerts"][0]
    before = len(ack_orders(cloud))
    cloud.post(f"/api/alerts/{site_alert['alert_id']}/acknowledge", {}, role="operator")
    assert len(ack_orders(cloud)) == before and container.get().site_orders.of_site("s1") == []


def test_listing_filters_and_refuses_bad_filters(alerting: Alerting) -> None:
    cloud = alerting.cloud
    alerting.ingest("s1", agent_record("pc-1"), agent_record("pc-2", severity="warning"))
    assert len(cloud.get("/api/alerts?severity=warning").json_body["data"]["alerts"]) == 1
    assert len(cloud.get("/api/alerts?agent_id=pc-1").json_body["data"]["alerts"]) == 1
    for query, named in (("state=open", "state"), ("severity=loud", "severity"), ("site_id=../x", "site_id"),
                         ("limit=0", "limit")):
        answer = cloud.get(f"/api/alerts?{query}")
        assert answer.status_code == 400 and named in answer.json_body["error"]["message"], query


def test_a_silence_holds_notifications_until_it_expires(alerting: Alerting) -> None:
    cloud = alerting.cloud
    made = cloud.post("/api/alert-silences", {"site_id": "s1", "rule_id": "disk-full", "duration_s": 600,
                                              "comment": "replacing disks"}, role="operator")
    assert made.status_code == 201 and made.json_body["data"]["created_by"] == "test-operator"
    alerting.ingest("s1", agent_record("pc-1"))
    assert alerting.publishes() == []
    cloud.clock.advance(601)
    alerting.ingest("s1", agent_record("pc-2"))
    assert len(alerting.publishes()) == 1
    assert cloud.get("/api/alert-silences").json_body["data"]["silences"] == []  # expired


def test_a_silence_must_name_a_known_site_and_a_bounded_duration(alerting: Alerting) -> None:
    cloud = alerting.cloud
    unknown = cloud.post("/api/alert-silences", {"site_id": "nowhere", "duration_s": 60}, role="operator")
    assert unknown.status_code == 404 and "unknown site nowhere" in unknown.json_body["error"]["message"]
    for duration in (0, -5, 31 * 24 * 3600):
        assert cloud.post("/api/alert-silences", {"site_id": "s1", "duration_s": duration}).status_code == 400
