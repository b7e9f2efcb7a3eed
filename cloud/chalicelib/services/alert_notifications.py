"""Notifications of alerts (docs/alerts.md#notifications): per channel of the tenant — an e-mail address or a phone
number (SMS) subscribed to the tenant's alerts topic, or a webhook — with a least severity, quiet hours and a daily
digest option.

A notification goes out when an alert fires (or stops flapping while firing) and once when it resolves. A channel
skips alerts below its ``min_severity``; during its quiet hours, and if it takes the digest, it gets only critical
alerts at once (the rest are in the digest). Webhooks are signed (``shared.webhook_signature``); a failed delivery
is retried with backoff by the schedule (:data:`BACKOFF_S`) and dead-lettered after the last attempt, where an
admin can list and retry it.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.adapters.alert_topic import AlertTopic
from chalicelib.adapters.webhooks import WebhookError, WebhookSender, check_url
from chalicelib.domain.alert import Alert, Channel, ChannelKind, Delivery, QuietHours
from chalicelib.errors import BadRequest, CloudError, Conflict, NotFound
from chalicelib.repositories.alert_setting import AlertSettingRepository
from shared.messages.enums import Severity
from shared.webhook_signature import signed_headers

log = logging.getLogger(__name__)

#: seconds before the 2nd, 3rd, ... attempt of a failed webhook delivery; after the last it is dead-lettered
BACKOFF_S: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0)
#: how long a dead-lettered delivery is kept for a retry
DEAD_LETTER_KEEP_S = 14 * 24 * 3600.0
#: channels per tenant
MAX_CHANNELS = 20
_RANK = {s.value: i for i, s in enumerate(Severity)}


def severity_at_least(severity: str, least: str) -> bool:
    return _RANK[severity] >= _RANK[least]


def in_quiet_hours(quiet: QuietHours, at: float) -> bool:
    local = datetime.fromtimestamp(at, tz=ZoneInfo(quiet.timezone)).strftime("%H:%M")
    if quiet.start <= quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # spans midnight


@dataclass(frozen=True, slots=True)
class SendReport:
    sent: int = 0
    held: int = 0
    failed: int = 0


class Notifier:
    def __init__(self, settings: AlertSettingRepository, topic: AlertTopic, webhooks: WebhookSender, tenant: str,
                 clock: Callable[[], float]) -> None:
        self._settings = settings
        self._topic = topic
        self._webhooks = webhooks
        self._tenant = tenant
        self._clock = clock

    # ------------------------------------------------------------ channels

    def channels(self) -> list[Channel]:
        return self._settings.channels()

    def add_channel(self, kind: ChannelKind, address: str, *, min_severity: str, quiet_hours: QuietHours | None,
                    digest: bool, secret: str | None) -> tuple[Channel, str | None]:
        """Create a channel; for a webhook, the signing secret is answered once (made if not given)."""
        if len(self._settings.channels()) >= MAX_CHANNELS:
            raise Conflict(f"at most {MAX_CHANNELS} alert channels per tenant: remove one first")
        if quiet_hours is not None:
            try:
                ZoneInfo(quiet_hours.timezone)
            except (KeyError, ValueError):
                raise BadRequest(f"quiet_hours.timezone: unknown time zone {quiet_hours.timezone!r}") from None
        channel_id = uuid.uuid4().hex[:16]
        subscription: str | None = None
        if kind is ChannelKind.WEBHOOK:
            check_url(address)
            secret = secret or secrets.token_urlsafe(32)
        else:
            secret = None
            subscription = self._topic.subscribe("email" if kind is ChannelKind.EMAIL else "sms", address, channel_id)
        channel = Channel(channel_id, kind, address, min_severity, quiet_hours, digest, secret, subscription,
                          self._clock())
        self._settings.save_channel(channel)
        return channel, secret

    def remove_channel(self, channel_id: str) -> None:
        channel = self._channel(channel_id)
        if channel.subscription_arn:
            self._topic.unsubscribe(channel.subscription_arn)
        self._settings.delete_channel(channel_id)

    def _channel(self, channel_id: str) -> Channel:
        channel = self._settings.channel(channel_id)
        if channel is None:
            raise NotFound(f"unknown alert channel {channel_id}")
        return channel

    # ------------------------------------------------------------ sending

    def notify(self, alert: Alert, change: str) -> SendReport:
        """Tell every channel that takes it that ``alert`` ``fired`` or ``resolved``."""
        now = self._clock()
        record = alert.record
        sent = held = failed = 0
        for channel in self._settings.channels():
            if not severity_at_least(record.severity.value, channel.min_severity):
                continue
            urgent = record.severity is Severity.CRITICAL
            if not urgent and (channel.digest or (channel.quiet_hours and in_quiet_hours(channel.quiet_hours, now))):
                held += 1
                continue
            subject = f"[{record.severity.value}] {record.rule_name} {change} at site {alert.site_id}"
            ok = self._send(channel, {"type": "alert", "change": change, "alert": alert.to_dict()}, subject,
                            _text(alert, change))
            sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
        return SendReport(sent, held, failed)

    def test(self, channel_id: str) -> dict[str, Any]:
        """Send a test notification to one channel now; say whether it went (a webhook's error is answered)."""
        channel = self._channel(channel_id)
        body = {"type": "test", "message": "a test notification from ClassTop Fleet"}
        if channel.kind is ChannelKind.WEBHOOK:
            try:
                status = self._post(channel, self._body(body))
            except WebhookError as exc:
                return {"channel_id": channel_id, "delivered": False, "error": str(exc)}
            return {"channel_id": channel_id, "delivered": True, "status": status}
        message_id = self._topic.publish(channel.channel_id, "ClassTop Fleet: test notification", body["message"])
        return {"channel_id": channel_id, "delivered": True, "message_id": message_id}

    def digest(self, alerts: list[Alert]) -> SendReport:
        """The daily digest to every channel that takes it: the alerts opened in the last day."""
        sent = failed = 0
        lines = [_text(a, a.state.value) for a in alerts]
        summary = f"{len(alerts)} alert(s) in the last 24 hours" + ("" if not lines else ":\n" + "\n".join(lines))
        for channel in self._settings.channels():
            if not channel.digest:
                continue
            ok = self._send(channel, {"type": "digest", "count": len(alerts),
                                      "alerts": [a.to_dict() for a in alerts][:200]},
                            f"ClassTop Fleet: daily alert digest ({len(alerts)})", summary)
            sent, failed = (sent + 1, failed) if ok else (sent, failed + 1)
        return SendReport(sent, 0, failed)

    def _send(self, channel: Channel, payload: dict[str, Any], subject: str, text: str) -> bool:
        if channel.kind is not ChannelKind.WEBHOOK:
            try:
                self._topic.publish(channel.channel_id, subject, text)
            except CloudError as exc:
                log.warning("alert channel %s: %s", channel.channel_id, exc)
                return False
            return True
        body = self._body(payload)
        try:
            self._post(channel, body)
        except WebhookError as exc:
            now = self._clock()
            delivery = Delivery(json.loads(body)["delivery_id"], channel.channel_id, body.decode(), 1,
                                now + BACKOFF_S[0], str(exc)[:500], created_at=now)
            self._settings.save_delivery(delivery, now + DEAD_LETTER_KEEP_S)
            log.info("webhook %s: %s; retried in %g s", channel.channel_id, exc, BACKOFF_S[0])
            return False
        return True

    def _body(self, payload: dict[str, Any]) -> bytes:
        document = {"delivery_id": uuid.uuid4().hex, "tenant": self._tenant, "sent_at": self._clock(), **payload}
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()

    def _post(self, channel: Channel, body: bytes) -> int:
        if channel.secret is None:
            raise WebhookError("the webhook has no signing secret")
        return self._webhooks.send(channel.address, body, signed_headers(channel.secret, int(self._clock()), body))

    # ------------------------------------------------------------ retries and the dead-letter list

    def retry_due(self) -> SendReport:
        """Attempt again every failed delivery whose time has come (the schedule)."""
        now = self._clock()
        sent = failed = 0
        for delivery in self._settings.deliveries():
            if delivery.dead or delivery.next_at > now:
                continue
            if self._attempt(delivery):
                sent += 1
            else:
                failed += 1
        return SendReport(sent, 0, failed)

    def dead_letters(self) -> list[Delivery]:
        return [d for d in self._settings.deliveries() if d.dead]

    def retry(self, delivery_id: str) -> dict[str, Any]:
        """An admin's retry of a dead-lettered (or waiting) delivery, now."""
        delivery = self._settings.delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"unknown delivery {delivery_id}")
        delivered = self._attempt(replace(delivery, dead=False), manual=True)
        return {"delivery_id": delivery_id, "delivered": delivered}

    def _attempt(self, delivery: Delivery, *, manual: bool = False) -> bool:
        now = self._clock()
        channel = self._settings.channel(delivery.channel_id)
        if channel is None:  # the channel was removed: nothing to deliver to
            self._settings.delete_delivery(delivery.delivery_id)
            return False
        try:
            self._post(channel, delivery.body.encode())
        except WebhookError as exc:
            attempts = delivery.attempts + 1
            dead = manual or attempts > len(BACKOFF_S)
            next_at = now if dead else now + BACKOFF_S[attempts - 1]
            self._settings.save_delivery(replace(delivery, attempts=attempts, next_at=next_at, dead=dead,
                                                 last_error=str(exc)[:500]), now + DEAD_LETTER_KEEP_S)
            return False
        self._settings.delete_delivery(delivery.delivery_id)
        return True


def _text(alert: Alert, change: str) -> str:
    record = alert.record
    target = record.target.key()
    covers = f" ({record.covers} agents covered)" if record.covers is not None else ""
    return (f"{record.severity.value.upper()} {record.rule_name} {change}: site {alert.site_id}, {target}{covers}. "
            f"{record.message}").strip()
