"""The site's webhook: alert notifications POSTed, signed (:mod:`shared.webhook_signature`), retried with backoff,
dead-lettered after the last attempt, quiet during the channel's quiet hours.

* **Where it may point** (:func:`check_webhook_url`): ``https://`` only; a plain ``http://`` URL only to a loopback
  address and only when the LMS runs in local/dev mode (``[alerts] local_dev_http_webhook``). Link-local addresses
  (``169.254.0.0/16``, ``fe80::/10``: cloud metadata services) are refused, when set and again when resolved at
  each delivery; a URL with user info is refused (the secret is the credential). Site-private addresses are allowed:
  a site's webhook normally points at the school's own systems (docs/security.md#the-site-webhook).
* **The secret** comes from ``[alerts] webhook_secret_file`` or ``$CLASSTOP_LMS_ALERT_WEBHOOK_SECRET`` (at least
  16 bytes), never through the API.
* **Deliveries** are rows of ``alert_deliveries``: ``pending`` (next try at ``next_at``), ``sent``, ``dead`` (the
  dead-letter; ``retry`` puts one back), ``quiet`` (not sent: quiet hours). Each body carries a ``delivery_id``
  that stays the same across retries; each attempt is signed with its own timestamp. Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from edge.lms.alerts.alert_errors import AlertError
from edge.lms.config.alert_settings import WEBHOOK_SECRET_ENV, AlertSettings
from edge.lms.store import Store
from shared.messages import Severity
from shared.messages.alert import AlertRecord
from shared.messages.base import Strict
from shared.webhook_signature import MIN_SECRET_BYTES, signed_headers
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: ``lms_config`` key of the channel's settings (JSON of :class:`WebhookChannel`).
CHANNEL_KEY = "alert_webhook"
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 600.0
#: Deliveries waiting at once (beyond it the oldest pending ones go to the dead-letter).
MAX_PENDING = 5000
_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHours(Strict):
    """From ``start`` to ``end`` (LMS local time, ``HH:MM``; may span midnight) only alerts of ``min_severity`` or
    worse are sent; the others are recorded as ``quiet`` and not sent."""

    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)
    min_severity: Severity = Severity.CRITICAL

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end at the same time")
        return self

    def covers(self, at: float) -> bool:
        now = datetime.fromtimestamp(at).strftime("%H:%M")
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end


class WebhookChannel(Strict):
    """``PUT /api/alerts/webhook``: the site's webhook channel."""

    url: str = Field(max_length=2048)
    enabled: bool = True
    min_severity: Severity = Field(default=Severity.INFO, description="alerts less severe are not sent")
    quiet_hours: QuietHours | None = None

    @field_validator("url")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()


def _host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    addr = _host_address(host)
    return host == "localhost" if addr is None else addr.is_loopback


def check_webhook_url(url: str, *, local_dev: bool) -> str:
    """The URL if a site webhook may point there, else :class:`AlertError` saying why."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises for a bad port
    except ValueError as exc:
        raise AlertError(f"the webhook URL is not a URL: {exc}") from None
    host = parts.hostname or ""
    if not host:
        raise AlertError("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise AlertError("the webhook URL must not carry user info (the signature is the credential)")
    if parts.scheme == "http":
        if not local_dev:
            raise AlertError("the webhook URL must be https:// (plain http:// only to loopback, in local/dev mode: "
                             "[alerts] local_dev_http_webhook)")  # fmt: skip
        if not _is_loopback(host):
            raise AlertError("a plain http:// webhook may point at a loopback address only; use https://")
    elif parts.scheme != "https":
        raise AlertError(f"the webhook URL must be https://, not {parts.scheme or 'schemeless'}")
    addr = _host_address(host)
    if addr is not None and (addr.is_link_local or addr.is_multicast or addr.is_unspecified):
        raise AlertError(f"the webhook URL points at {addr}, a link-local/multicast/unspecified address")
    return url


def _resolves_safely(host: str, port: int) -> None:
    """Refuse, at delivery, a host name that resolves to a link-local address (metadata services)."""
    if _host_address(host) is not None or host == "localhost":
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise AlertError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_link_local or addr.is_multicast or addr.is_unspecified:
            raise AlertError(f"{host} resolves to {addr}, a link-local address: refused")


def load_secret(settings: AlertSettings, environ: dict[str, str] | None = None) -> str | None:
    """The webhook secret from its file or the environment (None: none set). Raises :class:`AlertError` if one is
    set but unreadable or shorter than 16 bytes."""
    env = os.environ if environ is None else environ
    if settings.webhook_secret_file is not None:
        try:
            secret = Path(settings.webhook_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AlertError(f"cannot read [alerts] webhook_secret_file: {exc}") from None
    else:
        secret = env.get(WEBHOOK_SECRET_ENV, "").strip()
        if not secret:
            return None
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise AlertError(f"the webhook secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


class SiteWebhook:
    """The channel's settings, its delivery queue and the worker that sends it."""

    def __init__(self, store: Store, settings: AlertSettings, *, site_id: str, tenant: str,
                 secret: str | None, clock: Callable[[], float] = time.time,
                 transport: httpx.BaseTransport | None = None) -> None:  # fmt: skip
        self._store = store
        self._settings = settings
        self._site_id = site_id
        self._tenant = tenant
        self._secret = secret
        self._clock = clock
        self._client = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False, transport=transport)
        self._wake = threading.Event()
        self._worker = WorkerThread("lms-alert-webhook", self._run, wake=self._wake.set)
        self.sent = 0
        self.failed = 0

    # ------------------------------------------------------------ the channel

    def channel(self) -> WebhookChannel | None:
        raw = self._store.get_config(CHANNEL_KEY)
        if not raw:
            return None
        try:
            return WebhookChannel.model_validate_json(raw)
        except ValueError:
            return None

    def view(self) -> dict[str, Any]:
        channel = self.channel()
        return {"channel": channel.model_dump(mode="json") if channel else None, "secret_set": self._secret is not None,
                "local_dev_http_webhook": self._settings.local_dev_http_webhook, **self.counts()}  # fmt: skip

    def set_channel(self, channel: WebhookChannel) -> WebhookChannel:
        check_webhook_url(channel.url, local_dev=self._settings.local_dev_http_webhook)
        if channel.enabled and self._secret is None:
            raise AlertError("no webhook secret on this LMS: set [alerts] webhook_secret_file or "
                             f"${WEBHOOK_SECRET_ENV} (at least {MIN_SECRET_BYTES} bytes) first", 409)  # fmt: skip
        self._store.set_config(CHANNEL_KEY, channel.model_dump_json())
        return channel

    def delete_channel(self) -> None:
        self._store.set_config(CHANNEL_KEY, "")

    # ------------------------------------------------------------ queueing

    def notify(self, record: AlertRecord) -> str | None:
        """Queue a notification of ``record`` (its delivery id), or None: no channel, below its severity, or quiet."""
        channel = self.channel()
        if channel is None or not channel.enabled or self._secret is None:
            return None
        if _SEVERITY_ORDER[record.severity] < _SEVERITY_ORDER[channel.min_severity]:
            return None
        now = self._clock()
        quiet = channel.quiet_hours
        state = "pending"
        if quiet is not None and quiet.covers(now) and _SEVERITY_ORDER[record.severity] < _SEVERITY_ORDER[
            quiet.min_severity
        ]:
            state = "quiet"
        delivery_id = secrets.token_hex(16)
        body = {"delivery_id": delivery_id, "type": "alert", "tenant": self._tenant, "site_id": self._site_id,
                "alert": record.model_dump(mode="json")}  # fmt: skip
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO alert_deliveries (delivery_id, alert_id, body, state, attempts, next_at, created_at) "
                "VALUES (?,?,?,?,0,?,?)", (delivery_id, record.alert_id, json.dumps(body, separators=(",", ":")),
                                           state, now, now))  # fmt: skip
            conn.execute(
                "UPDATE alert_deliveries SET state = 'dead', last_error = 'too many pending deliveries' WHERE "
                "delivery_id IN (SELECT delivery_id FROM alert_deliveries WHERE state = 'pending' ORDER BY created_at "
                "DESC LIMIT -1 OFFSET ?)", (MAX_PENDING,))  # fmt: skip
        self._wake.set()
        return delivery_id if state == "pending" else None

    def counts(self) -> dict[str, int]:
        rows = self._store.query("SELECT state, COUNT(*) FROM alert_deliveries GROUP BY state")
        counts = {"pending": 0, "sent": 0, "dead": 0, "quiet": 0}
        counts.update({r[0]: r[1] for r in rows})
        return counts

    def deliveries(self, state: str | None, limit: int) -> list[dict[str, Any]]:
        keys = ("delivery_id", "alert_id", "state", "attempts", "next_at", "last_error", "created_at")
        sql = f"SELECT {', '.join(keys)} FROM alert_deliveries"
        args: list[Any] = []
        if state is not None:
            sql += " WHERE state = ?"
            args.append(state)
        return self._store.select(f"{sql} ORDER BY created_at DESC LIMIT ?", [*args, limit], keys)

    def retry(self, delivery_id: str) -> None:
        with self._store.transaction() as conn:
            cur = conn.execute("UPDATE alert_deliveries SET state = 'pending', attempts = 0, next_at = ? "
                               "WHERE delivery_id = ? AND state = 'dead'", (self._clock(), delivery_id))  # fmt: skip
        if cur.rowcount == 0:
            raise AlertError(f"no dead delivery {delivery_id}", 404)
        self._wake.set()

    def test(self) -> dict[str, Any]:
        """The test button: one signed test delivery now, its outcome returned (not queued, not retried)."""
        channel = self.channel()
        if channel is None:
            raise AlertError("no webhook set (PUT /api/alerts/webhook)", 409)
        if self._secret is None:
            raise AlertError(f"no webhook secret on this LMS ([alerts] webhook_secret_file or ${WEBHOOK_SECRET_ENV})",
                             409)  # fmt: skip
        body = {"delivery_id": secrets.token_hex(16), "type": "test", "tenant": self._tenant,
                "site_id": self._site_id, "message": "a test delivery from the site's LMS"}  # fmt: skip
        try:
            status = self._post(channel.url, json.dumps(body, separators=(",", ":")).encode())
        except AlertError as exc:
            return {"delivered": False, "error": exc.message}
        return {"delivered": 200 <= status < 300, "status": status, "delivery_id": body["delivery_id"]}

    # ------------------------------------------------------------ sending

    def start(self) -> SiteWebhook:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()
        self._client.close()

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            self._wake.clear()
            try:
                wait = self.send_due()
            except Exception:
                log.exception("alert webhook: unexpected error")
                wait = 5.0
            self._wake.wait(wait)

    def send_due(self) -> float:
        """Send every pending delivery whose time has come; the seconds until the next one (at most 5)."""
        now = self._clock()
        rows = self._store.query(
            "SELECT delivery_id, body, attempts FROM alert_deliveries WHERE state = 'pending' AND next_at <= ? "
            "ORDER BY created_at LIMIT 50", (now,))  # fmt: skip
        channel = self.channel()
        for delivery_id, body, attempts in rows:
            if self._worker.stopping.is_set():
                break
            if channel is None or not channel.enabled:
                break
            error = None
            try:
                status = self._post(channel.url, body.encode())
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except AlertError as exc:
                error = exc.message
            self._record(delivery_id, attempts + 1, error)
        nxt = self._store.query("SELECT MIN(next_at) FROM alert_deliveries WHERE state = 'pending'")
        return 5.0 if nxt[0][0] is None else max(0.05, min(5.0, nxt[0][0] - self._clock()))

    def _post(self, url: str, body: bytes) -> int:
        assert self._secret is not None
        check_webhook_url(url, local_dev=self._settings.local_dev_http_webhook)
        parts = urlsplit(url)
        _resolves_safely(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        headers = {"Content-Type": "application/json", **signed_headers(self._secret, int(self._clock()), body)}
        try:
            return self._client.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            raise AlertError(f"{type(exc).__name__}: {exc}"[:300]) from None

    def _record(self, delivery_id: str, attempts: int, error: str | None) -> None:
        now = self._clock()
        if error is None:
            self.sent += 1
            state, next_at = "sent", now
        else:
            self.failed += 1
            dead = attempts >= self._settings.webhook_max_attempts
            state = "dead" if dead else "pending"
            next_at = now + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (attempts - 1))
            log.warning("alert webhook: delivery %s failed (attempt %d%s): %s", delivery_id, attempts,
                        ", dead-lettered" if dead else "", error)  # fmt: skip
        with self._store.transaction() as conn:
            conn.execute("UPDATE alert_deliveries SET state = ?, attempts = ?, next_at = ?, last_error = ? "
                         "WHERE delivery_id = ?", (state, attempts, next_at, error, delivery_id))  # fmt: skip
