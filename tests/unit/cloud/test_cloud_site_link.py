"""A site's cloud link from IoT Core's lifecycle events (the ``site_presence`` rule): the link says why it went
down (clean shutdown, connection lost, keep-alive timeout, duplicate client id), a repeated or late event changes
nothing, another namespace's client or a forged event is ignored, and the cloud's site alert names the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.handlers.alert_schedules import evaluate_alerts
from chalicelib.repositories.site import SiteRepository
from infra.aws.rules import event_for, rule_for_handler
from shared.names import Namespace
from shared.topics import PresenceEvent, presence_event, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, Cloud, online, running_cloud

THING = site_thing_name(NS, "s1")


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as cloud:
        cloud.heartbeat("s1", [online(f"pc-{i}") for i in range(3)])
        yield cloud


def lifecycle(cloud: Cloud, kind: str, *, at_s: float, version: int = 0, reason: str | None = None,
              client_id: str = THING, topic_client: str | None = None) -> dict[str, Any]:  # fmt: skip
    """IoT Core's event, through the rule (its SQL: the client id from the topic) into the handler."""
    body: dict[str, Any] = {
        "clientId": client_id,
        "timestamp": int(at_s * 1000),
        "eventType": kind,
        "sessionIdentifier": "a" * 32,
        "principalIdentifier": "p",
        "versionNumber": version,
    }
    if kind == "disconnected":
        body |= {"disconnectReason": reason, "clientInitiatedDisconnect": reason == "CLIENT_INITIATED_DISCONNECT"}
    else:
        body["ipAddress"] = "192.0.2.1"
    topic = presence_event(PresenceEvent(kind), topic_client or client_id)
    event = event_for(rule_for_handler("site_presence"), topic, json.dumps(body).encode())
    answer: dict[str, Any] = cloud.invoke("site_presence", event)
    return answer


def link_hop(cloud: Cloud) -> dict[str, Any]:
    hops: dict[str, Any] = cloud.get("/api/agents/pc-1").json_body["data"]["presence"]["hops"]
    return {"link": hops["link"], "shown": cloud.get("/api/agents/pc-1").json_body["data"]["presence"]["shown"]}


@pytest.mark.parametrize(("reason", "shown"), [("CLIENT_INITIATED_DISCONNECT", "clean_shutdown"),
                                              ("CONNECTION_LOST", "link_lost"),
                                              ("MQTT_KEEP_ALIVE_TIMEOUT", "keep_alive_timeout"),
                                              ("DUPLICATE_CLIENTID", "duplicate_client_id"),
                                              ("SOMETHING_AWS_ADDS_LATER", "link_lost")])  # fmt: skip
def test_a_disconnection_says_why_the_link_is_down(cloud: Cloud, reason: str, shown: str) -> None:
    now = cloud.clock.now
    assert lifecycle(cloud, "connected", at_s=now - 100)["applied"] is True
    got = lifecycle(cloud, "disconnected", at_s=now + 1, reason=reason)
    assert got["ok"] is True and got["applied"] is True and got["site_id"] == "s1"
    hop = link_hop(cloud)
    assert hop["link"]["state"] == "down" and hop["link"]["reason"] == shown and hop["link"]["since"] == now + 1
    assert hop["shown"].startswith("unknown — site unreachable since")
    # reconnected: the link is up again at once (the heartbeats follow)
    lifecycle(cloud, "connected", at_s=now + 2, version=1)
    assert link_hop(cloud)["link"]["state"] == "up"


def test_a_repeated_or_late_event_changes_nothing(cloud: Cloud) -> None:
    now = cloud.clock.now
    lifecycle(cloud, "connected", at_s=now, version=3)
    assert lifecycle(cloud, "disconnected", at_s=now + 1, version=3, reason="CONNECTION_LOST")["applied"] is True
    assert lifecycle(cloud, "disconnected", at_s=now + 1, version=3, reason="CONNECTION_LOST")["applied"] is False
    # the connection before arrives late: older, ignored
    assert lifecycle(cloud, "connected", at_s=now, version=3)["applied"] is False
    # same millisecond: the next connection (a higher version) wins, its own disconnection after it
    assert lifecycle(cloud, "connected", at_s=now + 1, version=4)["applied"] is True
    assert lifecycle(cloud, "disconnected", at_s=now + 1, version=3, reason="CONNECTION_LOST")["applied"] is False
    site = SiteRepository(SETTINGS.tenant).get("s1")
    assert site is not None and (site.link_state, site.link_version) == ("connected", 4)


def test_events_of_other_clients_or_forged_ones_change_nothing(cloud: Cloud) -> None:
    now = cloud.clock.now
    other = site_thing_name(Namespace(NS.tenant, "prod"), "s1")  # the same site id in another stage
    assert lifecycle(cloud, "disconnected", at_s=now + 1, reason="CONNECTION_LOST", client_id=other) == {
        "ok": True, "site_id": None, "applied": False, "state": None, "reason": None}  # fmt: skip
    # a body naming another client than its topic
    got = lifecycle(cloud, "disconnected", at_s=now + 1, reason="CONNECTION_LOST", client_id=THING,
                    topic_client=site_thing_name(NS, "s2"))  # fmt: skip
    assert got["applied"] is False
    # not a lifecycle event at all
    bad = event_for(rule_for_handler("site_presence"), presence_event(PresenceEvent.CONNECTED, THING), b"{}")
    assert cloud.invoke("site_presence", bad)["ok"] is False
    # a site rule's event shape is refused by the lifecycle handler
    assert cloud.invoke("site_presence", {"topic_site_id": "s1", "message_base64": ""})["ok"] is False
    site = SiteRepository(SETTINGS.tenant).get("s1")
    assert site is not None and site.link_state is None


def test_the_cloud_site_alert_names_the_lifecycle_reason(cloud: Cloud) -> None:
    now = cloud.clock.now
    lifecycle(cloud, "connected", at_s=now - 10)
    lifecycle(cloud, "disconnected", at_s=now + 1, reason="MQTT_KEEP_ALIVE_TIMEOUT")
    cloud.clock.advance(400)
    assert evaluate_alerts({})["opened"] == 1
    (alert,) = cloud.get("/api/alerts?site_id=s1").json_body["data"]["alerts"]
    # the link itself went down (not a silent LMS behind a live link): cloud_link_down, saying why
    assert alert["rule_id"] == "cloud-link-down" and "keep_alive_timeout" in alert["message"]
