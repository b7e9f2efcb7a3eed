"""The site webhook (edge.lms.alerts.site_webhook) against a real local receiver checking signatures: signed
deliveries, retries with backoff to the dead-letter and back, the same delivery id across retries, quiet hours,
the test button, the secret's rules."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge.lms.alerts import AlertError, QuietHours, SiteWebhook, WebhookChannel, load_secret
from edge.lms.config.alert_settings import WEBHOOK_SECRET_ENV, AlertSettings
from edge.lms.store import Store
from shared.messages import Severity
from shared.messages.alert import AlertRecord, AlertState, AlertTarget, TargetKind
from tests.fixtures.clock import Clock
from tests.fixtures.webhook_receiver import WebhookReceiver, webhook_receiver

SECRET = "0123456789abcdef-secret"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver(SECRET) as r:
        yield r


def record(severity: Severity = Severity.ERROR) -> AlertRecord:
    now = time.time()
    return AlertRecord(alert_id="a" * 32, key="b" * 32, seq=1, rule_id="disk", rule_scope="site", rule_name="disk",
                       severity=severity, condition_kind="metric_threshold", state=AlertState.FIRING,
                       target=AlertTarget(kind=TargetKind.AGENT, agent_id="pc-1"), opened_at=now,
                       changed_at=now)  # fmt: skip


def hook(store: Store, receiver: WebhookReceiver, clock: Clock, **channel: object) -> SiteWebhook:
    settings = AlertSettings(local_dev_http_webhook=True, webhook_max_attempts=3)
    webhook = SiteWebhook(store, settings, site_id="school-1", tenant="demo", secret=SECRET, clock=clock)
    webhook.set_channel(WebhookChannel(url=receiver.url, **channel))
    return webhook


def test_a_delivery_is_signed_and_sent_once(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(time.time())
    webhook = hook(store, receiver, clock)
    delivery_id = webhook.notify(record())
    webhook.send_due()
    webhook.send_due()
    assert [d["delivery_id"] for d in receiver.deliveries] == [delivery_id]
    assert receiver.deliveries[0]["alert"]["rule_id"] == "disk" and receiver.refused == []
    assert webhook.counts()["sent"] == 1


def test_failures_back_off_then_dead_letter_and_retry(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(time.time())
    webhook = hook(store, receiver, clock)
    receiver.status = 500
    delivery_id = webhook.notify(record())
    assert delivery_id is not None
    webhook.send_due()
    row = webhook.deliveries("pending", 10)[0]
    assert row["attempts"] == 1 and row["next_at"] == pytest.approx(clock.now + 2)
    webhook.send_due()  # not due yet: no second attempt
    assert webhook.deliveries("pending", 10)[0]["attempts"] == 1
    clock.now += 2
    webhook.send_due()
    assert webhook.deliveries("pending", 10)[0]["next_at"] == pytest.approx(clock.now + 4)
    clock.now += 4
    webhook.send_due()
    dead = webhook.deliveries("dead", 10)
    assert [d["delivery_id"] for d in dead] == [delivery_id] and dead[0]["last_error"] == "HTTP 500"
    receiver.status = 200
    webhook.retry(delivery_id)
    webhook.send_due()
    assert [d["delivery_id"] for d in receiver.deliveries] == [delivery_id]  # the same id across retries
    with pytest.raises(AlertError):
        webhook.retry(delivery_id)  # no longer dead


def test_a_redirect_is_not_followed(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(time.time())
    webhook = hook(store, receiver, clock)
    receiver.status = 302
    webhook.notify(record())
    webhook.send_due()
    assert webhook.deliveries("pending", 10)[0]["last_error"] == "HTTP 302"


def test_quiet_hours_hold_back_all_but_critical(store: Store, receiver: WebhookReceiver) -> None:
    clock = Clock(time.time())
    now = datetime.fromtimestamp(clock.now)
    quiet = QuietHours(start=(now - timedelta(minutes=5)).strftime("%H:%M"),
                       end=(now + timedelta(minutes=30)).strftime("%H:%M"))  # fmt: skip
    webhook = hook(store, receiver, clock, quiet_hours=quiet)
    assert webhook.notify(record(Severity.WARNING)) is None
    critical = webhook.notify(record(Severity.CRITICAL))
    webhook.send_due()
    assert [d["delivery_id"] for d in receiver.deliveries] == [critical]
    assert webhook.counts()["quiet"] == 1


def test_below_the_channels_severity_nothing_is_queued(store: Store, receiver: WebhookReceiver) -> None:
    webhook = hook(store, receiver, Clock(time.time()), min_severity=Severity.ERROR)
    assert webhook.notify(record(Severity.WARNING)) is None
    assert webhook.counts() == {"pending": 0, "sent": 0, "dead": 0, "quiet": 0}


def test_the_test_button(store: Store, receiver: WebhookReceiver) -> None:
    webhook = hook(store, receiver, Clock(time.time()))
    outcome = webhook.test()
    assert outcome["delivered"] is True and receiver.deliveries[-1]["type"] == "test"
    receiver.status = 503
    failed = webhook.test()
    assert failed["delivered"] is False and failed["status"] == 503
    webhook.set_channel(WebhookChannel(url="http://127.0.0.1:1/nothing-listens"))
    refused = webhook.test()
    assert refused["delivered"] is False and "ConnectError" in refused["error"]


def test_the_secret(tmp_path: Path) -> None:
    assert load_secret(AlertSettings(), {}) is None
    assert load_secret(AlertSettings(), {WEBHOOK_SECRET_ENV: SECRET}) == SECRET
    with pytest.raises(AlertError, match="16 bytes"):
        load_secret(AlertSettings(), {WEBHOOK_SECRET_ENV: "short"})
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    assert load_secret(AlertSettings(webhook_secret_file=path), {}) == SECRET
    with pytest.raises(AlertError, match="cannot read"):
        load_secret(AlertSettings(webhook_secret_file=tmp_path / "missing"), {})


def test_without_local_dev_mode_a_plain_http_channel_is_refused(store: Store, receiver: WebhookReceiver) -> None:
    webhook = SiteWebhook(store, AlertSettings(), site_id="school-1", tenant="demo", secret=SECRET)
    with pytest.raises(AlertError, match="https"):
        webhook.set_channel(WebhookChannel(url=receiver.url))
