"""The MQTT wrapper against a real Mosquitto process."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infra.local.mosquitto import MosquittoProcess
from shared.errors import MqttError
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from tests.fixtures.brokers import Broker, broker_process, running

pytestmark = pytest.mark.integration

USERS = {"alice": "alice-pw", "bob": "bob-pw"}


@pytest.fixture
def broker() -> Iterator[MosquittoProcess]:
    with running(Broker(broker_process("mqtt", users=USERS))) as broker:
        yield broker.process


def settings(broker: MosquittoProcess, user: str = "alice", password: str | None = None, **kw: object) -> MqttSettings:
    return MqttSettings.model_validate(
        {
            "host": broker.host,
            "port": broker.port,
            "client_id": f"{user}-{time.monotonic_ns()}",
            "username": user,
            "password": password if password is not None else USERS[user],
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            **kw,
        }
    )


def collect(client: MqttClient, topic_filter: str) -> queue.Queue[IncomingMessage]:
    q: queue.Queue[IncomingMessage] = queue.Queue()
    client.subscribe(topic_filter, q.put)
    return q


@contextmanager
def started(*clients: MqttClient) -> Iterator[None]:
    """Start ``clients`` in order; stop them all at the end."""
    for client in clients:
        client.start()
    try:
        yield
    finally:
        for client in clients:
            client.stop()


def test_publish_subscribe_round_trip_with_nodelay(broker: MosquittoProcess) -> None:
    sub, pub = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    got = collect(sub, "t/+/x")
    with started(sub, pub):
        time.sleep(0.1)  # SUBACK
        pub.publish("t/1/x", b"hello", qos=1)
        msg = got.get(timeout=5)
        assert (msg.topic, msg.payload, msg.qos) == ("t/1/x", b"hello", 1)
        sock = sub._client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_refused_connack_is_an_error_not_connected(broker: MosquittoProcess) -> None:
    client = MqttClient(settings(broker, "alice", password="wrong"))
    try:
        with pytest.raises(MqttError, match="refused"):
            client.start(wait_s=5)
        assert not client.connected
        assert client.stats.refused >= 1
    finally:
        client.stop()


def test_unreachable_broker_times_out_clearly() -> None:
    from infra.local.ports import free_port

    s = MqttSettings(host="127.0.0.1", port=free_port(), client_id="nobody", reconnect_min_s=0.1)
    client = MqttClient(s)
    try:
        with pytest.raises(MqttError, match="no answer"):
            client.start(wait_s=1)
    finally:
        client.stop()


def test_subscriptions_are_restored_after_broker_restart(broker: MosquittoProcess) -> None:
    sub, pub = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    got = collect(sub, "restore/#")
    with started(sub, pub):
        broker.stop()
        time.sleep(0.3)
        assert not sub.connected
        broker.start()
        assert sub.wait_connected(10) and pub.wait_connected(10)
        time.sleep(0.2)
        pub.publish("restore/me", b"back", qos=1)
        assert got.get(timeout=5).payload == b"back"
        assert sub.stats.connects >= 2 and sub.stats.disconnects >= 1


def test_handler_exception_is_contained(broker: MosquittoProcess) -> None:
    sub, pub = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    got: queue.Queue[bytes] = queue.Queue()

    def flaky(msg: IncomingMessage) -> None:
        if msg.payload == b"boom":
            raise RuntimeError("handler bug")
        got.put(msg.payload)

    sub.subscribe("h/#", flaky)
    with started(sub, pub):
        time.sleep(0.1)
        for p in (b"boom", b"after"):
            pub.publish("h/1", p, qos=1)
        assert got.get(timeout=5) == b"after"
        assert sub.stats.handler_errors == 1
        assert sub.connected


def test_inbox_is_bounded_and_overflow_is_counted(broker: MosquittoProcess) -> None:
    sub = MqttClient(settings(broker, "alice", inbox_size=2))
    pub = MqttClient(settings(broker, "bob"))
    gate = threading.Event()
    seen: list[bytes] = []

    def slow(msg: IncomingMessage) -> None:
        gate.wait(20)
        seen.append(msg.payload)

    sub.subscribe("slow/#", slow, qos=0)
    with started(sub, pub):
        try:
            time.sleep(0.1)
            for i in range(8):
                pub.publish("slow/x", str(i).encode(), qos=0)
            deadline = time.monotonic() + 15
            while sub.stats.dropped == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sub.stats.dropped > 0
            gate.set()
            deadline = time.monotonic() + 5
            while len(seen) + sub.stats.dropped < 8 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(seen) + sub.stats.dropped == 8
            assert seen[0] == b"0"
        finally:
            gate.set()


_CRASHER = textwrap.dedent(
    """
    import sys, time
    from shared.mqtt import MqttClient, MqttSettings, Will
    s = MqttSettings(host=sys.argv[1], port=int(sys.argv[2]), client_id="crasher", username="bob",
                     password="bob-pw", keepalive_s=5)
    c = MqttClient(s, will=Will("will/bob", b"gone", qos=1, retain=False))
    c.start()
    print("up", flush=True)
    if sys.argv[3] == "clean":
        c.stop()
        print("stopped", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("mode", ["kill", "clean"])
def test_last_will_on_crash_and_not_on_clean_stop(broker: MosquittoProcess, mode: str) -> None:
    watcher = MqttClient(settings(broker, "alice"))
    wills = collect(watcher, "will/#")
    watcher.start()
    time.sleep(0.1)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, broker.host, str(broker.port), mode],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "up"
        if mode == "clean":
            assert proc.stdout.readline().strip() == "stopped"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        if mode == "kill":
            assert wills.get(timeout=5).payload == b"gone"
        else:
            with pytest.raises(queue.Empty):
                wills.get(timeout=1.5)
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.stop()


def test_reconnect_backoff_is_jittered_and_capped(broker: MosquittoProcess) -> None:
    client = MqttClient(settings(broker, "alice", reconnect_min_s=1.0, reconnect_max_s=8.0))
    delays = []
    for _ in range(40):
        client._schedule_reconnect()
        delays.append(client._client._reconnect_min_delay)
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert delays[0] <= 1.0
    assert max(delays[10:]) <= 8.0 and min(delays[10:]) >= 4.0  # capped at max, jittered in [max/2, max]
    assert len(set(delays[10:])) > 5  # not lockstep


def test_inline_handlers_run_on_the_network_thread_and_are_contained(broker: MosquittoProcess) -> None:
    sub, pub = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    threads: queue.Queue[str] = queue.Queue()
    queued: queue.Queue[str] = queue.Queue()

    def inline(msg: IncomingMessage) -> None:
        if msg.payload == b"boom":
            raise RuntimeError("inline bug")
        threads.put(threading.current_thread().name)

    sub.subscribe("fast/#", inline, inline=True)
    sub.subscribe("slow/#", lambda m: queued.put(threading.current_thread().name))
    with started(sub, pub):
        time.sleep(0.1)
        for topic, payload in (("fast/1", b"boom"), ("fast/1", b"ok"), ("slow/1", b"x")):
            pub.publish(topic, payload, qos=1)
        assert threads.get(timeout=5) != f"{sub.name}-dispatch"
        assert queued.get(timeout=5) == f"{sub.name}-dispatch"
        assert sub.stats.handler_errors == 1 and sub.connected


def test_an_inline_predicate_chooses_per_message(broker: MosquittoProcess) -> None:
    sub, pub = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    ran: queue.Queue[tuple[bytes, str]] = queue.Queue()

    def quick(msg: IncomingMessage) -> bool:
        if msg.payload == b"bad-predicate":
            raise ValueError("predicate bug")
        return msg.payload.startswith(b"quick")

    sub.subscribe("cmd/#", lambda m: ran.put((m.payload, threading.current_thread().name)), inline=quick)
    with started(sub, pub):
        time.sleep(0.1)
        for payload in (b"quick-1", b"slow-1", b"bad-predicate", b"quick-2"):
            pub.publish("cmd/x", payload, qos=1)
        seen = dict(ran.get(timeout=5) for _ in range(4))
        dispatcher = f"{sub.name}-dispatch"
        assert seen[b"quick-1"] != dispatcher and seen[b"quick-2"] != dispatcher  # the network thread
        assert seen[b"slow-1"] == dispatcher
        assert seen[b"bad-predicate"] == dispatcher  # a failing predicate: handled, not inline
        assert sub.stats.handler_errors == 1 and sub.connected


def _drop_connection(client: MqttClient) -> None:
    """The process dies: the network loop stops and the socket goes, nothing more is sent (no DISCONNECT)."""
    client._client.loop_stop()
    sock = client._client.socket()
    if sock is not None:
        sock.close()


def test_a_held_acknowledgement_keeps_the_message_with_the_broker_until_it_is_sent(broker: MosquittoProcess) -> None:
    """``hold_ack``: a message whose handler never acknowledged it (its process died first) comes again to the next
    connection of the same persistent session; one it acknowledged, and those of other subscriptions, do not."""
    base = settings(broker, "alice", session_expiry_s=60)
    first = MqttClient(base, manual_ack=True)
    held: queue.Queue[IncomingMessage] = queue.Queue()
    first.subscribe("held/+", held.put, hold_ack=True)
    plain = collect(first, "plain/+")
    pub = MqttClient(settings(broker, "bob"))
    with started(pub):
        first.start()
        time.sleep(0.2)  # SUBACK
        for topic in ("held/1", "held/2", "plain/1"):
            pub.publish(topic, b"x", qos=1).wait_for_publish(5)
        got = {m.topic: m for m in (held.get(timeout=5), held.get(timeout=5))}
        assert plain.get(timeout=5).topic == "plain/1"
        ack = got["held/2"].ack
        assert ack is not None and got["held/1"].ack is not None
        ack()  # held/1's never is
        time.sleep(0.1)
        _drop_connection(first)
        second = MqttClient(base, manual_ack=True)
        again: queue.Queue[IncomingMessage] = queue.Queue()
        second.subscribe("held/+", again.put, hold_ack=True)
        plain_again = collect(second, "plain/+")
        with started(second):
            assert again.get(timeout=5).topic == "held/1"
            time.sleep(0.5)  # anything else the broker still had would have come with it
            assert again.empty() and plain_again.empty()


def test_hold_ack_needs_a_client_made_with_manual_ack(broker: MosquittoProcess) -> None:
    with pytest.raises(ValueError, match="manual_ack"):
        MqttClient(settings(broker)).subscribe("t/#", lambda _m: None, hold_ack=True)
