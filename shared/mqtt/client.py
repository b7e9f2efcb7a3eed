"""One paho-mqtt 2.x wrapper for the LMS and the agent.

What it guarantees, so callers need not think about it:

* ``TCP_NODELAY`` on the socket (a QoS 1 request/response costs ~0.3 ms instead of ~88 ms);
* a publish from any thread is written by that thread when it can (plain TCP, connected), not handed to the
  network thread (:mod:`shared.mqtt.direct_client`);
* subscriptions are (re)made in ``on_connect``, so a reconnect restores them;
* a refused CONNACK is an error (logged, counted, raised from :meth:`MqttClient.start`), never "connected";
* reconnects back off exponentially with jitter, so a site's agents do not reconnect in lockstep;
* a Last Will can be set; a clean :meth:`MqttClient.stop` suppresses it;
* with ``manual_ack``, a subscription may hold its messages' acknowledgements (``hold_ack``): the broker keeps
  such a QoS 1 message until the handler calls :attr:`IncomingMessage.ack` (e.g. once it is on disk), and a
  client killed before that gets it again from its persistent session; every other message is acknowledged as
  paho does, once it is handed to its handlers;
* handlers run on one dispatcher thread fed by a bounded queue (or, opted in, inline on the network
  thread): a slow or failing handler never stalls paho's network loop, an exception in one is logged and
  contained, and a full inbox drops (and counts) rather than growing without bound; outgoing messages are
  bounded by ``max_queued``.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from shared.backoff import Backoff
from shared.errors import MqttError
from shared.mqtt.client_settings import ClientSettings, Will
from shared.mqtt.direct_client import DirectWriteClient
from shared.mqtt.subscription import Handler, IncomingMessage, Inline
from shared.mqtt.subscription_table import SubscriptionTable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pydantic import BaseModel

log = logging.getLogger(__name__)


@dataclass
class Stats:
    connects: int = 0
    refused: int = 0
    disconnects: int = 0
    received: int = 0
    dropped: int = 0
    handler_errors: int = 0
    published: int = 0
    last_error: str | None = None


_STOP = object()
#: An MQTT 5 PUBACK's reason code: the broker took the message, but no subscription matched it — nobody got it.
NO_MATCHING_SUBSCRIBERS = 0x10


def _acknowledgement(client: mqtt.Client, mid: int, qos: int) -> Callable[[], None]:
    def ack() -> None:
        client.ack(mid, qos)

    return ack


def _set_nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # e.g. a websocket wrapper
        log.debug("could not set TCP_NODELAY on %r", sock)


class MqttClient:
    """A connected-and-reconnecting MQTT client. Create, :meth:`subscribe`, :meth:`start`, :meth:`stop`."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        will: Will | None = None,
        on_connected: Callable[[MqttClient], None] | None = None,
        on_published: Callable[[int, int], None] | None = None,
        name: str | None = None,
        manual_ack: bool = False,
    ) -> None:
        """``on_published(mid, reason_code)``: the broker acknowledged QoS 1 message ``mid`` (or a QoS 0 one left)
        with the PUBACK's reason code (MQTT 5: 0 delivered, :data:`NO_MATCHING_SUBSCRIBERS` nobody subscribed to
        it, so nobody got it; 0 for QoS 0). It runs on the network thread with the client's locks held: quick,
        never blocking, never waiting on a thread that may be publishing."""
        self.settings = settings
        self.name = name or settings.client_id
        self.stats = Stats()
        self._on_connected_hook = on_connected
        self._on_published_hook = on_published
        self._subscriptions = SubscriptionTable()
        self._manual_ack = manual_ack
        self._connected = threading.Event()
        self._first_result = threading.Event()
        self._stopping = False
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s)
        self._inbox: queue.Queue[tuple[IncomingMessage, list[Handler]] | object] = queue.Queue(
            maxsize=settings.inbox_size
        )
        self._dispatcher: threading.Thread | None = None

        c = DirectWriteClient(
            CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=True,
            manual_ack=manual_ack,
        )
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            c.username_pw_set(settings.username, password)
        if settings.tls is not None:
            t = settings.tls
            c.tls_set(
                ca_certs=str(t.ca_file) if t.ca_file else None,
                certfile=str(t.cert_file) if t.cert_file else None,
                keyfile=str(t.key_file) if t.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        if will is not None:
            c.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        c.max_inflight_messages_set(settings.max_inflight)
        c.max_queued_messages_set(settings.max_queued)
        c.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_min_s)  # type: ignore[arg-type]  # floats work
        c.on_socket_open = _set_nodelay
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        if on_published is not None:
            c.on_publish = self._on_publish
        self._client = c

    # ------------------------------------------------------------ public API

    @property
    def manual_ack(self) -> bool:
        """Whether subscriptions may hold their acknowledgements (``hold_ack``)."""
        return self._manual_ack

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def subscribe(
        self, topic_filter: str, handler: Handler, qos: int = 1, *, inline: Inline = False, hold_ack: bool = False
    ) -> None:
        """Register ``handler`` for ``topic_filter``; (re)subscribed on every connect.

        ``inline=True`` runs the handler on paho's network thread, saving a thread hand-off (~0.1 ms) on
        latency-critical paths (e.g. matching responses to waiting requests). Such a handler must be quick
        and must never block; its exceptions are contained like any other's. ``inline`` may also be a
        predicate, asked (on the network thread: it must be cheap) for each message: True runs the handler
        inline for that message, False hands it to the dispatcher thread (e.g. quick commands inline, slow
        ones not). A predicate that raises counts as False.

        ``hold_ack`` (a client made with ``manual_ack``): ``handler`` acknowledges each QoS 1 message itself, by
        calling its :attr:`IncomingMessage.ack` exactly once, whatever becomes of it.
        """
        if hold_ack and not self._manual_ack:
            raise ValueError(f"{self.name}: hold_ack needs a client made with manual_ack")
        self._subscriptions.add(topic_filter, qos, handler, inline, hold_ack=hold_ack)
        if self.connected:
            self._client.subscribe(topic_filter, qos=qos)

    def unsubscribe(self, topic_filter: str) -> None:
        self._subscriptions.remove(topic_filter)
        if self.connected:
            self._client.unsubscribe(topic_filter)

    def publish(
        self, topic: str, payload: bytes | str | BaseModel, *, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish (queued while disconnected for QoS > 0). Raises :class:`MqttError` when the queue is full."""
        if not isinstance(payload, bytes | str):  # a pydantic message (the agent sends bytes: no pydantic loaded)
            from shared.messages.base import encode

            payload = encode(payload)
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self.stats.dropped += 1
            raise MqttError(f"{self.name}: outgoing queue full ({self.settings.max_queued}); dropped {topic}")
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(f"{self.name}: publish to {topic} failed: {mqtt.error_string(info.rc)}")
        self.stats.published += 1
        return info

    def corked(self) -> AbstractContextManager[None]:
        """Packets this thread publishes in the block leave together when it ends (``DirectWriteClient.corked``)."""
        return self._client.corked()

    def set_credentials(self, username: str | None, password: str | None) -> None:
        """Use these credentials from the next (re)connect on (e.g. after re-enrolment)."""
        self._client.username_pw_set(username, password)

    def trust_ca(self, ca_file: Path) -> None:
        """Also trust the CA certificates in ``ca_file`` from the next TLS handshake on (a site CA rotation; the
        context only grows: a CA dropped from the file stays trusted until the process restarts)."""
        context: ssl.SSLContext | None = getattr(self._client, "_ssl_context", None)  # paho sets it in tls_set
        if context is None:
            raise MqttError(f"{self.name}: not a TLS connection")
        context.load_verify_locations(cafile=str(ca_file))

    def start(self, wait_s: float | None = 10.0) -> None:
        """Connect in the background. With ``wait_s``, wait for the first CONNACK: raise if refused or late."""
        self._stopping = False
        if self._dispatcher is None or not self._dispatcher.is_alive():
            self._dispatcher = threading.Thread(target=self._dispatch_loop, name=f"{self.name}-dispatch", daemon=True)
            self._dispatcher.start()
        properties = None
        if self.settings.session_expiry_s:  # a persistent session: resumed on every reconnect
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.settings.session_expiry_s
        self._client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s,
            clean_start=not self.settings.session_expiry_s, properties=properties,
        )
        self._client.loop_start()
        if wait_s is None:
            return
        if not self._first_result.wait(wait_s):
            raise MqttError(
                f"{self.name}: no answer from {self.settings.host}:{self.settings.port} within {wait_s:g} s"
                + (f" ({self.stats.last_error})" if self.stats.last_error else "")
            )
        if not self.connected:
            raise MqttError(f"{self.name}: connection refused: {self.stats.last_error}")

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Disconnect cleanly (no Last Will), stop the network loop and the dispatcher."""
        self._stopping = True
        try:
            if self.connected:
                self._client.disconnect()
        finally:
            self._client.loop_stop()
            self._connected.clear()
            if self._dispatcher is not None:
                try:
                    self._inbox.put(_STOP, timeout=timeout_s)
                except queue.Full:
                    log.warning("%s: inbox full at stop; dispatcher abandoned", self.name)
                self._dispatcher.join(timeout_s)
                self._dispatcher = None

    # ------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            self.stats.refused += 1
            self.stats.last_error = f"CONNACK refused: {reason.getName()}"
            log.error("%s: broker refused the connection: %s", self.name, reason.getName())
            self._connected.clear()
            self._first_result.set()
            return
        self._backoff.reset()
        self.stats.connects += 1
        self.stats.last_error = None
        subs = self._subscriptions.filters()
        if subs:
            client.subscribe(subs)
        self._connected.set()
        self._first_result.set()
        log.info("%s: connected to %s:%s", self.name, self.settings.host, self.settings.port)
        if self._on_connected_hook is not None:
            try:
                self._on_connected_hook(self)
            except Exception:
                self.stats.handler_errors += 1
                log.exception("%s: on_connected hook failed", self.name)

    def _on_publish(self, _client: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Properties | None) -> None:
        if self._on_published_hook is None:
            return
        try:
            self._on_published_hook(mid, int(getattr(reason, "value", 0) or 0))
        except Exception:
            self.stats.handler_errors += 1
            log.exception("%s: on_published hook failed", self.name)

    def _on_connect_fail(self, _client: mqtt.Client, _u: Any) -> None:
        self.stats.last_error = self.stats.last_error or "connection failed"
        self._schedule_reconnect()

    def _on_disconnect(
        self, _client: mqtt.Client, _u: Any, _flags: Any, reason: ReasonCode, _p: Properties | None
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._stopping:
            return
        self.stats.disconnects += 1
        if was_connected:
            log.warning("%s: disconnected (%s); reconnecting", self.name, reason.getName())
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        delay = self._backoff.next()
        self._client.reconnect_delay_set(delay, delay)  # type: ignore[arg-type]  # paho does float arithmetic

    def _on_message(self, _client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        handlers = self._subscriptions.handlers_for(msg.topic)
        ack = None
        if self._manual_ack and msg.qos > 0:
            ack = _acknowledgement(self._client, msg.mid, msg.qos)
            if not self._subscriptions.holds_ack(handlers):
                ack()  # as paho would: handed to the handlers (acknowledged once this callback returns)
                ack = None
        item = IncomingMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), ack)
        deferred: list[Handler] = []
        for handler, inline in handlers:
            if self._runs_inline(inline, item):
                self._run(handler, item)
            else:
                deferred.append(handler)
        if not deferred:
            return
        try:
            self._inbox.put((item, deferred), timeout=1.0)
        except queue.Full:
            self.stats.dropped += 1
            log.error("%s: inbox full (%d); dropped message on %s", self.name, self.settings.inbox_size, msg.topic)
            if ack is not None:
                ack()  # dropped and counted, as any other: the broker must not hold it for good

    # ------------------------------------------------------------ dispatcher thread

    def _runs_inline(self, inline: Inline, item: IncomingMessage) -> bool:
        if isinstance(inline, bool):
            return inline
        try:
            return bool(inline(item))
        except Exception:
            self.stats.handler_errors += 1
            log.exception("%s: inline predicate for %s failed", self.name, item.topic)
            return False

    def _run(self, handler: Handler, item: IncomingMessage) -> None:
        try:
            handler(item)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("%s: handler for %s failed", self.name, item.topic)

    def _dispatch_loop(self) -> None:
        while True:
            entry = self._inbox.get()
            if entry is _STOP:
                return
            assert isinstance(entry, tuple)
            item, handlers = entry
            for handler in handlers:
                self._run(handler, item)
