"""The IoT Core stand-in's broker log lines -> AWS lifecycle events (infra.local.lifecycle_events, pure part)."""

from __future__ import annotations

from infra.local.lifecycle_events import LifecycleTranslator

THING = "ct--demo--dev--school-1"


def connect(t: LifecycleTranslator) -> None:
    (event,) = t.translate(f"1796610236: New client connected from 10.0.0.9:59815 as {THING} (p5, c1, k30, u'x').")
    assert (event.event_type, event.ip_address) == ("connected", "10.0.0.9")


def reason_of(line: str, *, error_line: str | None = None) -> str | None:
    t = LifecycleTranslator(clock=lambda: 1_700_000_000.0)
    connect(t)
    if error_line is not None:
        t.error_line(error_line)
    events = t.translate(line.format(id=THING))
    return events[0].disconnect_reason if events else None


def test_each_cause_the_broker_logs_is_awss_reason() -> None:
    assert reason_of("1: Client {id} disconnected.") == "CLIENT_INITIATED_DISCONNECT"
    assert reason_of("1: Client {id} closed its connection.") == "CONNECTION_LOST"
    assert reason_of("1: Socket error on client {id}, disconnecting.") == "CONNECTION_LOST"
    assert reason_of("1: Client {id} disconnected: Protocol error.") == "CONNECTION_LOST"
    assert reason_of("1: Client {id} has exceeded timeout, disconnecting.") == "MQTT_KEEP_ALIVE_TIMEOUT"
    assert reason_of("1: Client {id} disconnected due to protocol error.") == "CLIENT_ERROR"
    assert reason_of("1: Client {id} disconnected, not authorised.") == "AUTH_ERROR"
    assert reason_of("1: Client {id} has been disconnected by administrative action.") == "SERVER_INITIATED_DISCONNECT"
    # a link cut mid-packet: the TLS stream ended short first (the error log), then the half packet
    assert reason_of("1: Client {id} disconnected due to protocol error.",
                     error_line="1: OpenSSL Error[0]: error:0A000126:SSL routines::unexpected eof while reading") \
        == "CONNECTION_LOST"  # fmt: skip
    assert reason_of("1: Client {id} subscribed to x.") is None


def test_a_disconnection_is_announced_once_and_only_after_its_connection() -> None:
    t = LifecycleTranslator(clock=lambda: 1_700_000_000.0)
    assert t.translate(f"1: Client {THING} disconnected.") == []  # never seen connecting
    connect(t)
    (down,) = t.translate(f"1: Client {THING} disconnected.")
    assert t.translate(f"1: Client {THING} closed its connection.") == []  # gone already
    connect(t)
    dup, up = t.translate(f"1: New client connected from 10.0.0.9:1 as {THING} (p5, c1, k30).")
    assert (dup.disconnect_reason, dup.version_number, up.version_number) == ("DUPLICATE_CLIENTID", 1, 2)
    assert down.order() < dup.order() < up.order()  # IoT Core's time grows, even within one millisecond
    # client ids AWS sends no lifecycle event for
    assert t.translate("1: New client connected from 10.0.0.9:1 as a+b (p5, c1, k30).") == []
    t.forget_connections()  # the broker restarted
    (again,) = t.translate(f"1: New client connected from 10.0.0.9:1 as {THING} (p5, c1, k30).")
    assert again.event_type == "connected" and again.version_number == 3
