"""The IoT Core stand-in's lifecycle events: ``$aws/events/presence/{connected|disconnected}/{clientId}``, as AWS
IoT Core publishes them (``shared.messages.iot_presence``), from what the stand-in broker itself says.

Mosquitto announces each connection and disconnection, with its cause, in its notice-level log, which the stand-in
also publishes on ``$SYS/broker/log/N`` (``log_dest topic``, ``infra/mosquitto/iot-core.conf.tmpl``). This part of
the stand-in (a privileged client with a persistent session, so lines logged while it reconnects are queued for
it) turns each line into AWS's event:

============================================================  ==============================
Mosquitto's line                                              ``disconnectReason``
============================================================  ==============================
``New client connected from A:P as ID (...)``                 (a ``connected`` event)
``Client ID disconnected.`` (it sent DISCONNECT)              ``CLIENT_INITIATED_DISCONNECT``
``Client ID closed its connection.`` / ``Socket error on ...``  ``CONNECTION_LOST``
``Client ID disconnected: <socket error>.``                   ``CONNECTION_LOST``
``Client ID has exceeded timeout, disconnecting.``            ``MQTT_KEEP_ALIVE_TIMEOUT``
a second ``New client connected ... as ID`` while ID is on    ``DUPLICATE_CLIENTID`` (the old one)
``Client ID disconnected due to protocol error`` ...          ``CLIENT_ERROR`` (``CONNECTION_LOST`` right after
                                                              a TLS stream cut short: a link cut mid-packet)
``Client ID disconnected, not authorised.``                   ``AUTH_ERROR``
``Client ID has been disconnected by administrative action.``  ``SERVER_INITIATED_DISCONNECT``
============================================================  ==============================

``timestamp`` is this part's clock when it reads the line (milliseconds, strictly growing); ``versionNumber``
counts a client id's connections (kept in memory: the timestamp orders events across a restart of the twin).
A stopped stand-in publishes nothing (IoT Core has no such outage); its clients' connections after the restart
are announced as usual.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from shared import topics
from shared.errors import TopicError
from shared.messages.iot_presence import DisconnectReason, LifecycleEvent
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from shared.topics import PresenceEvent

log = logging.getLogger(__name__)

_CONNECTED = re.compile(r"New client connected from (?P<address>\S+) as (?P<client>\S+) \(")
_DISCONNECTED: tuple[tuple[re.Pattern[str], DisconnectReason], ...] = (
    (re.compile(r"Client (?P<client>\S+) disconnected\.$"), DisconnectReason.CLIENT_INITIATED_DISCONNECT),
    (re.compile(r"Client (?P<client>\S+) closed its connection\.$"), DisconnectReason.CONNECTION_LOST),
    (re.compile(r"Socket error on client (?P<client>\S+), disconnecting\.$"), DisconnectReason.CONNECTION_LOST),
    (re.compile(r"Bad socket read/write on client (?P<client>\S+):"), DisconnectReason.CONNECTION_LOST),
    (re.compile(r"Client (?P<client>\S+) disconnected: "), DisconnectReason.CONNECTION_LOST),
    (
        re.compile(r"Client (?P<client>\S+) has exceeded timeout, disconnecting\.$"),
        DisconnectReason.MQTT_KEEP_ALIVE_TIMEOUT,
    ),
    (re.compile(r"Client (?P<client>\S+) disconnected due to "), DisconnectReason.CLIENT_ERROR),
    (re.compile(r"Client (?P<client>\S+) disconnected, not authori[sz]ed\.$"), DisconnectReason.AUTH_ERROR),
    (
        re.compile(r"Client (?P<client>\S+) has been disconnected by administrative action\.$"),
        DisconnectReason.SERVER_INITIATED_DISCONNECT,
    ),
    (
        re.compile(r"Client (?P<client>\S+) already connected, closing old connection\.$"),
        DisconnectReason.DUPLICATE_CLIENTID,
    ),
)


#: OpenSSL's words for a TLS stream that ended without its close_notify (the peer's socket just went)
_CUT_SHORT = "unexpected eof while reading"


@dataclass(slots=True)
class _Client:
    version: int = -1
    session: str = ""
    connected: bool = False


@dataclass(slots=True)
class LifecycleTranslator:
    """Broker log line -> lifecycle events (pure: :class:`LifecycleEvents` publishes them)."""

    clock: Callable[[], float] = time.time
    _clients: dict[str, _Client] = field(default_factory=dict)
    _last_ms: int = 0
    #: the broker just logged a TLS stream cut short (its error log): the next protocol error is that cut
    _cut_short: bool = False

    def error_line(self, line: str) -> None:
        """A line of the broker's error log (read in order with the notice lines)."""
        if _CUT_SHORT in line:
            self._cut_short = True

    def forget_connections(self) -> None:
        """The broker restarted: nobody is connected any more (their next connection is not a duplicate)."""
        for client in self._clients.values():
            client.connected = False

    def _now_ms(self) -> int:
        self._last_ms = max(int(self.clock() * 1000), self._last_ms + 1)
        return self._last_ms

    def _event(self, client_id: str, state: _Client, reason: DisconnectReason | None, address: str | None = None,
               ) -> LifecycleEvent:  # fmt: skip
        fields: dict[str, object] = {
            "clientId": client_id, "timestamp": self._now_ms(), "versionNumber": max(state.version, 0),
            "eventType": "connected" if reason is None else "disconnected", "sessionIdentifier": state.session,
            # the certificate's identity stands in for the principal (AWS: the certificate id)
            "principalIdentifier": hashlib.sha256(client_id.encode()).hexdigest(),
        }  # fmt: skip
        if reason is None:
            fields["ipAddress"] = address
        else:
            fields["disconnectReason"] = reason.value
            fields["clientInitiatedDisconnect"] = reason is DisconnectReason.CLIENT_INITIATED_DISCONNECT
        return LifecycleEvent.model_validate(fields)

    def translate(self, line: str) -> list[LifecycleEvent]:
        """The events one log line stands for (none for other lines, or for a client id AWS sends none for)."""
        line = line.strip()
        match = _CONNECTED.search(line)
        if match:
            client_id = match["client"]
            if not _announced(client_id):
                return []
            state = self._clients.setdefault(client_id, _Client())
            events = []
            if state.connected:  # the same client id again: the broker dropped the older connection
                events.append(self._event(client_id, state, DisconnectReason.DUPLICATE_CLIENTID))
            state.version, state.session, state.connected = state.version + 1, uuid.uuid4().hex, True
            events.append(self._event(client_id, state, None, match["address"].rpartition(":")[0]))
            return events
        for pattern, found in _DISCONNECTED:
            match = pattern.search(line)
            if match is None:
                continue
            cut_short, self._cut_short = self._cut_short, False
            reason = DisconnectReason.CONNECTION_LOST if found is DisconnectReason.CLIENT_ERROR and cut_short else found
            client_id = match["client"]
            known = self._clients.get(client_id)
            if not _announced(client_id) or known is None or not known.connected:
                return []  # not seen connecting (before this part started), or announced already (a duplicate)
            if reason is DisconnectReason.DUPLICATE_CLIENTID:
                return []  # announced when the new connection's line comes
            known.connected = False
            return [self._event(client_id, known, reason)]
        return []


def _announced(client_id: str) -> bool:
    try:
        topics.presence_event(PresenceEvent.CONNECTED, client_id)
    except TopicError:
        return False
    return client_id != "<unknown>"


class LifecycleEvents:
    """Subscribes the stand-in's notice log and publishes the lifecycle events (QoS 1, not retained)."""

    def __init__(self, settings: MqttSettings, clock: Callable[[], float] = time.time) -> None:
        self._mqtt = MqttClient(settings, on_connected=self._connected, name="stand-in-lifecycle")
        self._lock = threading.Lock()
        self.translator = LifecycleTranslator(clock)
        self.published = 0

    def start(self, wait_s: float = 10.0) -> LifecycleEvents:
        # inline: the lines are read on the network thread, in order, and after the on_connected hook
        self._mqtt.subscribe(topics.broker_notice_log(), self._on_line, qos=1, inline=True)
        self._mqtt.subscribe(topics.broker_error_log(), self._on_error_line, qos=1, inline=True)
        self._mqtt.start(wait_s=wait_s)
        return self

    def stop(self) -> None:
        self._mqtt.stop()

    def _connected(self, _client: MqttClient) -> None:
        """``MqttClient``'s ``on_connected`` hook: runs before the lines queued for this session are read."""
        with self._lock:
            self.translator.forget_connections()

    def _on_error_line(self, msg: IncomingMessage) -> None:
        with self._lock:
            self.translator.error_line(bytes(msg.payload).decode("utf-8", "replace"))

    def _on_line(self, msg: IncomingMessage) -> None:
        with self._lock:
            events = self.translator.translate(bytes(msg.payload).decode("utf-8", "replace"))
        for event in events:
            self._mqtt.publish(topics.presence_event(event.event, event.client_id),
                               json.dumps(event.to_wire()).encode(), qos=1)  # fmt: skip
            self.published += 1
            log.info("lifecycle: %s %s %s", event.client_id, event.event_type, event.disconnect_reason or "")
