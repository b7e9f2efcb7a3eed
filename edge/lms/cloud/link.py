"""The cloud link: one MQTT 5 connection (awscrt) from the LMS to AWS IoT Core.

The same code serves both worlds; only the settings differ:

* AWS: mutual TLS with the site thing's certificate (``cloud.tls``), port 8883 (or 443 with ALPN);
* the local twin: the same mTLS to the Mosquitto process standing in for IoT Core (its stand-in root CA);
* integration tests only: plain TCP (``tls_ctx=None``) to a plain test broker.

awscrt reconnects by itself (exponential backoff with jitter). On every connection the link subscribes to
its topic filters and tells its listeners (outbox pump, site heartbeats). SDK metrics are never added to
the CONNECT username (they break Mosquitto's authentication: docs/field-notes.md#awsiotsdk--awscrt). Incoming
messages are handed to handlers on awscrt's event-loop thread: handlers must only enqueue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from awscrt import io, mqtt5
from paho.mqtt.client import topic_matches_sub

from edge.lms.config import CloudLinkSettings

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]


#: PUBACK reason codes that mean the broker will refuse the same message again: the outbox dead-letters it.
#: QUOTA_EXCEEDED (0x97), SERVER_BUSY (0x89), PACKET_IDENTIFIER_IN_USE (0x91), disconnects and timeouts are
#: transient and retried.
PERMANENT_REASON_CODES: frozenset[int] = frozenset(
    {
        0x80,  # UNSPECIFIED_ERROR
        0x83,  # IMPLEMENTATION_SPECIFIC_ERROR
        0x87,  # NOT_AUTHORIZED
        0x90,  # TOPIC_NAME_INVALID
        0x95,  # PACKET_TOO_LARGE
        0x99,  # PAYLOAD_FORMAT_INVALID
    }
)


class LinkError(Exception):
    """A publish was not acknowledged (refused, disconnected, timed out).

    ``permanent`` is True only when the broker refused the message with a reason code that will not change on
    retry (:data:`PERMANENT_REASON_CODES`).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class LinkStats:
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    received: int = 0
    published: int = 0
    publish_failures: int = 0
    last_error: str | None = None


def build_tls_context(settings: CloudLinkSettings) -> io.ClientTlsContext | None:
    """mTLS context from the configured files, or ``None`` (plain TCP: integration tests' plain broker only)."""
    tls = settings.tls
    if tls is None:
        return None
    options = io.TlsContextOptions.create_client_with_mtls_from_path(str(tls.cert_file), str(tls.key_file))
    if tls.ca_file is not None:
        options.override_default_trust_store_from_path(None, str(tls.ca_file))
    if settings.port == 443 and io.is_alpn_available():
        options.alpn_list = ["x-amzn-mqtt-ca"]
    return io.ClientTlsContext(options)


class CloudLink:
    """:meth:`subscribe` handlers, :meth:`start`; :meth:`publish` returns a future resolved at the PUBACK."""

    def __init__(self, settings: CloudLinkSettings, *, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self.stats = LinkStats()
        self._subs: dict[str, MessageHandler] = {}
        self._listeners: list[Callable[[], None]] = []
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._failing = False
        self._stopping = False
        self._client: mqtt5.Client | None = None

    # ------------------------------------------------------------ setup

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Register ``handler``; the subscription is made on every (re)connection."""
        self._subs[topic_filter] = handler

    def add_connected_listener(self, listener: Callable[[], None]) -> None:
        """Called (on awscrt's thread; must not block) after each successful connection."""
        self._listeners.append(listener)

    def _build(self) -> mqtt5.Client:
        s = self.settings
        connect = mqtt5.ConnectPacket(
            client_id=self.client_id,
            keep_alive_interval_sec=s.keepalive_s,
            session_expiry_interval_sec=s.session_expiry_s,
        )
        options = mqtt5.ClientOptions(
            host_name=s.host,
            port=s.port,
            tls_ctx=build_tls_context(s),
            connect_options=connect,
            session_behavior=(
                mqtt5.ClientSessionBehaviorType.REJOIN_ALWAYS
                if s.session_expiry_s > 0
                else mqtt5.ClientSessionBehaviorType.CLEAN
            ),
            offline_queue_behavior=mqtt5.ClientOperationQueueBehaviorType.FAIL_ALL_ON_DISCONNECT,
            retry_jitter_mode=mqtt5.ExponentialBackoffJitterMode.FULL,
            min_reconnect_delay_ms=int(s.reconnect_min_s * 1000),
            max_reconnect_delay_ms=int(s.reconnect_max_s * 1000),
            connack_timeout_ms=int(s.connect_timeout_s * 1000),
            ack_timeout_sec=s.ack_timeout_s,
            on_publish_callback_fn=self._on_publish,
            on_lifecycle_event_connection_success_fn=self._on_success,
            on_lifecycle_event_connection_failure_fn=self._on_failure,
            on_lifecycle_event_disconnection_fn=self._on_disconnection,
            on_lifecycle_event_stopped_fn=self._on_stopped,
            disable_metrics=True,
        )
        return mqtt5.Client(options)

    # ------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        """Start connecting in the background (never blocks; the LMS works without the cloud)."""
        self._stopped.clear()
        self._stopping = False
        self._client = self._build()
        self._client.start()
        log.info("cloud link: connecting to %s:%d as %s (%s)", self.settings.host, self.settings.port,
                 self.client_id, "mTLS" if self.settings.tls else "plain TCP")

    def stop(self, timeout_s: float = 5.0) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        self._stopping = True
        client.stop()
        if not self._stopped.wait(timeout_s):
            log.warning("cloud link: client did not stop within %.0f s", timeout_s)
        self._connected.clear()

    # ------------------------------------------------------------ publishing

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        """Publish; the future completes at the PUBACK (QoS 1) and fails with :class:`LinkError` otherwise."""
        result: Future[None] = Future()
        client = self._client
        if client is None or not self.connected:
            self.stats.publish_failures += 1
            result.set_exception(LinkError("cloud link is not connected"))
            return result
        packet = mqtt5.PublishPacket(
            topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE if qos else mqtt5.QoS.AT_MOST_ONCE
        )
        inner = client.publish(packet)
        inner.add_done_callback(lambda f: self._complete(f, result, topic))
        return result

    def _complete(self, inner: Future[Any], result: Future[None], topic: str) -> None:
        try:
            data = inner.result()
        except Exception as exc:
            self.stats.publish_failures += 1
            result.set_exception(LinkError(f"publish to {topic} failed: {exc}"))
            return
        puback = getattr(data, "puback", None)
        code = getattr(puback, "reason_code", 0) if puback is not None else 0
        if int(code) >= 0x80:  # 0 success, 16 no matching subscribers: both mean the broker took it
            self.stats.publish_failures += 1
            result.set_exception(
                LinkError(
                    f"publish to {topic} refused: {getattr(code, 'name', code)}",
                    permanent=int(code) in PERMANENT_REASON_CODES,
                )
            )
            return
        self.stats.published += 1
        result.set_result(None)

    # ------------------------------------------------------------ awscrt callbacks (event-loop thread)

    def _on_success(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        self.stats.connects += 1
        self.stats.last_error = None
        self._failing = False
        client = self._client
        if client is not None and self._subs:
            subs = [mqtt5.Subscription(topic_filter=f, qos=mqtt5.QoS.AT_LEAST_ONCE) for f in self._subs]
            client.subscribe(mqtt5.SubscribePacket(subscriptions=subs)).add_done_callback(self._on_suback)
        else:
            self._set_connected()

    def _on_suback(self, fut: Future[Any]) -> None:
        try:
            suback = fut.result()
            codes = [int(c) for c in getattr(suback, "reason_codes", [])]
            if any(c >= 0x80 for c in codes):
                log.error("cloud link: subscription refused: %s", codes)
        except Exception as exc:
            log.error("cloud link: subscribe failed: %s", exc)
        self._set_connected()

    def _set_connected(self) -> None:
        self._connected.set()
        log.info("cloud link: connected to %s:%d", self.settings.host, self.settings.port)
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("cloud link: connected listener failed")

    def _on_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        self.stats.connect_failures += 1
        self.stats.last_error = str(getattr(data, "exception", "connection failed"))
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        log.log(level, "cloud link: cannot connect to %s:%d: %s (retrying)", self.settings.host,
                self.settings.port, self.stats.last_error)

    def _on_disconnection(self, data: mqtt5.LifecycleDisconnectData) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stopping:
            self.stats.disconnects += 1
            log.warning("cloud link: disconnected (%s); reconnecting", getattr(data, "exception", None))

    def _on_stopped(self, _data: mqtt5.LifecycleStoppedData) -> None:
        self._connected.clear()
        self._stopped.set()

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        topic = packet.topic
        payload = bytes(packet.payload or b"")
        self.stats.received += 1
        for topic_filter, handler in list(self._subs.items()):
            if topic_matches_sub(topic_filter, topic):
                try:
                    handler(topic, payload)
                except Exception:
                    log.exception("cloud link: handler for %s failed", topic)
