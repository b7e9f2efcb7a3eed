"""Webhooks from the cloud: https only, never to a private, loopback, link-local or metadata address — checked when
the URL is set and again, after DNS resolution, when each delivery is sent (an attacker test for each) — signed with
``shared.webhook_signature``, retried with backoff, dead-lettered and retried by hand; quiet hours and the digest."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_testkit import agent_record, site_alerts

from chalicelib import container
from chalicelib.adapters.webhooks import WebhookError, WebhookRefused, WebhookSender, check_url, is_public
from chalicelib.domain.alert import QuietHours
from chalicelib.errors import BadRequest
from chalicelib.handlers.alert_schedules import alert_digest, evaluate_alerts
from chalicelib.services.alert_notifications import BACKOFF_S, in_quiet_hours
from shared.webhook_signature import signed_headers
from tests.fixtures.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.unit.cloud.cloud_testkit import Cloud, online, running_cloud

SECRET = "s" * 32


# ---------------------------------------------------------------- SSRF: the URL when it is set


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.com/x", "https only"),
    ("ftp://hooks.example.com/x", "https only"),
    ("https://user:pw@hooks.example.com/x", "user name or password"),
    ("https://127.0.0.1/x", "not a public address"),
    ("https://[::1]/x", "not a public address"),
    ("https://10.1.2.3/x", "not a public address"),
    ("https://192.168.0.10/x", "not a public address"),
    ("https://172.16.5.5/x", "not a public address"),
    ("https://169.254.169.254/latest/meta-data/", "not a public address"),
    ("https://[fd00:ec2::254]/x", "not a public address"),
    ("https://[::ffff:127.0.0.1]/x", "not a public address"),
    ("https://100.64.0.1/x", "not a public address"),
    ("https://0.0.0.0/x", "not a public address"),
    ("https://localhost/x", "not a public host name"),
    ("https://metadata.google.internal/x", "not a public host name"),
    ("https://hooks.example.com:99999/x", "not a URL"),
    ("https:///nohost", "names no host"),
    ("https://hooks.example.com/x y", "no spaces"),
])
def test_a_url_the_cloud_must_not_reach_is_refused_when_set(url: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=reason):
        check_url(url)


def test_the_api_refuses_such_a_webhook_with_the_reason() -> None:
    with running_cloud() as cloud:
        for url in ("http://hooks.example.com/x", "https://169.254.169.254/"):
            answer = cloud.post("/api/alert-channels", {"kind": "webhook", "address": url})
            message = answer.json_body["error"]["message"]  # its shape (not https) or where it points
            assert answer.status_code == 400 and ("url:" in message or "not an https URL" in message), message
        short = cloud.post("/api/alert-channels", {"kind": "webhook", "address": "https://h.example.com/",
                                                   "secret": "short"})
        assert short.status_code == 400 and "secret" in short.json_body["error"]["message"]
        for kind, address in (("email", "not-an-address"), ("sms", "555-1234")):
            assert cloud.post("/api/alert-channels", {"kind": kind, "address": address}).status_code == 400
        assert cloud.get("/api/alert-channels").json_body["data"]["channels"] == []


# ---------------------------------------------------------------- SSRF: the addresses when it is sent


@pytest.mark.parametrize("addresses", [
    ["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["fd00:ec2::254"], ["::1"], ["::ffff:10.0.0.1"],
    ["192.0.2.1"],  # documentation range: not global
    ["93.184.216.34", "127.0.0.1"],  # one public address does not excuse a private one (rebinding)
])
def test_a_host_resolving_to_an_address_the_cloud_must_not_reach_is_refused_at_send_time(
        addresses: list[str]) -> None:
    """Attack: a public-looking name set as the URL, whose DNS answers (later) with an internal address."""
    sender = WebhookSender(resolver=lambda host, port: addresses)
    with pytest.raises(WebhookRefused, match="not a public address"):
        sender.send("https://rebind.attacker.example/x", b"{}", {})


def test_public_addresses_are_public() -> None:
    assert is_public("93.184.216.34") and is_public("2606:2800:220:1:248:1893:25c8:1946")
    assert not is_public("127.0.0.1") and not is_public("224.0.0.1")


def test_the_sender_connects_to_the_address_it_checked(tmp_path: Path) -> None:
    """DNS is asked once: the connection goes to the checked address, and TLS verifies the URL's host name."""
    with webhook_receiver(SECRET, tls_dir=tmp_path, now=lambda: 0.0) as receiver:
        asked: list[str] = []

        def resolver(host: str, port: int) -> list[str]:
            asked.append(host)
            return receiver.resolver(host, port)

        sender = WebhookSender(resolver=resolver, allow=lambda address: True, context=receiver.client_context())
        receiver.status = 204
        assert sender.send(receiver.url, b"{}", signed_headers(SECRET, 0, b"{}")) == 204
        assert asked == [receiver.host]
        wrong_name = WebhookSender(resolver=lambda h, p: ["127.0.0.1"], allow=lambda a: True,
                                   context=receiver.client_context())
        with pytest.raises(WebhookError, match="failed"):  # the certificate is not for this name
            wrong_name.send(f"https://other.test:{receiver.port}/hook", b"{}", {})


# ---------------------------------------------------------------- signed deliveries, retries, dead letters


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[Cloud, WebhookReceiver, str]]:
    """A cloud with site s1 and a webhook channel to a real https receiver (loopback allowed for the test)."""
    with running_cloud() as cloud, webhook_receiver(SECRET, tls_dir=tmp_path, now=cloud.clock) as receiver:
        container.configure(webhooks=WebhookSender(resolver=receiver.resolver, allow=lambda address: True,
                                                   context=receiver.client_context()))
        cloud.heartbeat("s1", [online("pc-1")])
        made = cloud.post("/api/alert-channels", {"kind": "webhook", "address": receiver.url, "secret": SECRET,
                                                  "min_severity": "warning"})
        assert made.status_code == 201 and made.json_body["data"]["secret"] == SECRET
        assert "secret" not in cloud.get("/api/alert-channels").json_body["data"]["channels"][0]
        yield cloud, receiver, made.json_body["data"]["channel_id"]


def test_an_alert_is_delivered_signed_and_its_resolution_once(hooked: tuple[Cloud, WebhookReceiver, str]) -> None:
    cloud, receiver, _channel = hooked
    record = agent_record("pc-1")
    cloud.invoke("site_alerts", site_alerts("s1", record))
    cloud.invoke("site_alerts", site_alerts("s1", record))  # a resend
    cloud.invoke("site_alerts", site_alerts("s1", agent_record("pc-1", seq=2, state="resolved",
                                                               alert_id=record["alert_id"])))
    assert receiver.refused == []
    assert [(d["change"], d["alert"]["alert_id"]) for d in receiver.deliveries] == [
        ("fired", record["alert_id"]), ("resolved", record["alert_id"])]
    assert len({d["delivery_id"] for d in receiver.deliveries}) == 2
    cloud.invoke("site_alerts", site_alerts("s1", agent_record("pc-1", severity="info")))  # below the channel
    assert len(receiver.deliveries) == 2


def test_a_failed_delivery_is_retried_with_backoff_then_dead_lettered_then_retried_by_hand(
        hooked: tuple[Cloud, WebhookReceiver, str]) -> None:
    cloud, receiver, _channel = hooked
    receiver.status = 503
    cloud.invoke("site_alerts", site_alerts("s1", agent_record("pc-1")))
    for wait in BACKOFF_S:
        assert evaluate_alerts({})["deliveries_failed"] == 0  # not due yet
        cloud.clock.advance(wait)
        cloud.heartbeat("s1", [online("pc-1")])  # the site stays reachable: no site alert meanwhile
        assert evaluate_alerts({})["deliveries_failed"] == 1
    cloud.clock.advance(10 * max(BACKOFF_S))
    cloud.heartbeat("s1", [online("pc-1")])
    assert evaluate_alerts({})["deliveries_failed"] == 0  # dead: no more automatic attempts
    dead = cloud.get("/api/alert-channels/dead-letters").json_body["data"]["deliveries"]
    assert len(dead) == 1 and dead[0]["attempts"] == len(BACKOFF_S) + 1 and "503" in dead[0]["last_error"]
    receiver.status = 200
    retried = cloud.post(f"/api/alert-channels/dead-letters/{dead[0]['delivery_id']}/retry", {})
    assert retried.json_body["data"]["delivered"] is True and len(receiver.deliveries) == 1
    assert cloud.get("/api/alert-channels/dead-letters").json_body["data"]["deliveries"] == []


def test_the_test_route_says_whether_the_webhook_answered(hooked: tuple[Cloud, WebhookReceiver, str]) -> None:
    cloud, receiver, channel = hooked
    assert cloud.post(f"/api/alert-channels/{channel}/test", {}).json_body["data"]["delivered"] is True
    assert receiver.deliveries[-1]["type"] == "test"
    receiver.status = 500
    failed = cloud.post(f"/api/alert-channels/{channel}/test", {}).json_body["data"]
    assert failed["delivered"] is False and "HTTP 500" in failed["error"]
    assert cloud.post("/api/alert-channels/nochannel/test", {}).status_code == 404


def test_quiet_hours_hold_all_but_critical_and_the_digest_sends_the_day(
        hooked: tuple[Cloud, WebhookReceiver, str]) -> None:
    cloud, receiver, channel = hooked
    cloud.delete(f"/api/alert-channels/{channel}")
    # the fake clock is 22:13 UTC: quiet from 22:00 to 07:00
    made = cloud.post("/api/alert-channels", {"kind": "webhook", "address": receiver.url, "secret": SECRET,
                                              "quiet_hours": {"start": "22:00", "end": "07:00"}, "digest": True})
    assert made.status_code == 201
    cloud.invoke("site_alerts", site_alerts("s1", agent_record("pc-1", severity="warning")))
    assert receiver.deliveries == []
    cloud.invoke("site_alerts", site_alerts("s1", agent_record("pc-1", rule_id="on-fire", severity="critical")))
    assert [d["alert"]["rule_id"] for d in receiver.deliveries] == ["on-fire"]
    assert alert_digest({})["alerts"] == 2
    assert receiver.deliveries[-1]["type"] == "digest" and receiver.deliveries[-1]["count"] == 2


def test_quiet_hours_span_midnight_in_the_channels_time_zone() -> None:
    quiet = QuietHours("22:00", "07:00", "Europe/London")
    winter_2330 = 1_700_004_600.0 + 3600  # 2023-11-14 23:30 UTC = 23:30 in London
    assert in_quiet_hours(quiet, winter_2330) and not in_quiet_hours(quiet, winter_2330 - 12 * 3600)
    assert in_quiet_hours(dataclasses.replace(quiet, start="09:00", end="17:00"), winter_2330 - 12 * 3600)
