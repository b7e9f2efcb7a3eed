"""Publishing threads that write their own packets (``shared.mqtt.direct_client``) against a real Mosquitto: many
threads at once, the network thread answering inline meanwhile, payloads large enough to fill the socket's buffer
(a packet left half-written for the network thread) — every message arrives once, whole and in each sender's order,
over the one connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from infra.local.mosquitto import MosquittoProcess
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from shared.mqtt.direct_client import PAHO_PARTS
from tests.fixtures.brokers import Broker, broker_process, running

pytestmark = pytest.mark.integration

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
THREADS = 4
PER_THREAD = 300


@pytest.fixture
def broker() -> Iterator[MosquittoProcess]:
    with running(Broker(broker_process("mqtt", users=USERS))) as broker:
        yield broker.process


def settings(broker: MosquittoProcess, user: str) -> MqttSettings:
    return MqttSettings.model_validate({
        "host": broker.host, "port": broker.port, "client_id": f"{user}-{time.monotonic_ns()}", "username": user,
        "password": USERS[user], "max_inflight": 20, "max_queued": 100_000,
    })  # fmt: skip


def payload(sender: int, seq: int) -> bytes:
    """Most small; every 50th 200 kB (under the broker's 256 kB packet limit; more than a socket buffer may take at
    once); the tail tells it was whole."""
    head = b"%d:%d:" % (sender, seq)
    body = b"x" * (200_000 if seq % 50 == 0 else seq % 200)
    return head + body + b":end"


def parse(data: bytes) -> tuple[int, int]:
    sender, seq, rest = data.split(b":", 2)
    assert rest.endswith(b":end"), "a message arrived cut or mixed with another"
    assert data == payload(int(sender), int(seq))
    return int(sender), int(seq)


def test_threads_and_the_network_thread_writing_at_once_lose_and_mix_nothing(broker: MosquittoProcess) -> None:
    sender, receiver = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    got: list[tuple[int, int]] = []
    echoed: list[tuple[int, int]] = []
    done = threading.Event()
    lock = threading.Lock()

    def on_message(message: IncomingMessage) -> None:
        with lock:
            got.append(parse(message.payload))
            if len(got) == THREADS * PER_THREAD and len(echoed) == len(got):
                done.set()

    def on_echo(message: IncomingMessage) -> None:
        with lock:
            echoed.append(parse(message.payload))
            if len(got) == THREADS * PER_THREAD and len(echoed) == len(got):
                done.set()

    def echo(message: IncomingMessage) -> None:
        on_message(message)
        receiver.publish("direct/echo", message.payload, qos=1)

    # the receiver echoes every message back from its network thread (inline), while it is reading more
    receiver.subscribe("direct/in/#", echo, inline=True)
    sender.subscribe("direct/echo", on_echo)
    with_clients = (receiver, sender)
    for client in with_clients:
        client.start()
    try:
        for client in with_clients:  # subscribed: the broker handles a connection's packets in order, so the
            assert client.wait_connected(30)  # PUBACK of a probe sent after the on_connect SUBSCRIBE follows its SUBACK
            client.publish("direct/probe", b"", qos=1).wait_for_publish(30)

        def publish_all(index: int) -> None:
            for seq in range(PER_THREAD):
                sender.publish(f"direct/in/{index}", payload(index, seq), qos=1)
                if seq % 7 == 0:
                    sender.publish(f"direct/q0/{index}", b"qos0", qos=0)  # left to the network thread

        threads = [threading.Thread(target=publish_all, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert done.wait(60), f"got {len(got)} and {len(echoed)} echoes of {THREADS * PER_THREAD}"
    finally:
        for client in with_clients:
            client.stop()

    for messages in (got, echoed):
        assert sorted(messages) == sorted((i, s) for i in range(THREADS) for s in range(PER_THREAD))  # each once
        for index in range(THREADS):
            assert [s for i, s in messages if i == index] == list(range(PER_THREAD))  # in each sender's order
    assert sender.stats.connects == 1 and receiver.stats.connects == 1  # no stream the broker had to refuse
    assert sender._client.direct_writes > 0 and receiver._client.direct_writes > 0


def test_the_installed_paho_has_every_part_the_direct_writes_use(broker: MosquittoProcess) -> None:
    """If a paho release renames one, the client falls back to paho's own path; this says so before it ships."""
    client = MqttClient(settings(broker, "alice"))
    assert client._client.direct, [n for n in PAHO_PARTS if not hasattr(client._client, n)]


def test_packets_held_back_leave_together_whole_and_in_order(broker: MosquittoProcess) -> None:
    """Published inside ``corked`` (and, past the in-flight window, from the network thread as PUBACKs come back, while
    it holds back what it queues during a read): runs of packets joined into one ``send``, 200 kB ones among them
    (more than one ``send`` takes, so runs are cut part-way) — every message arrives once, whole, in order."""
    sender, receiver = MqttClient(settings(broker, "alice")), MqttClient(settings(broker, "bob"))
    got: list[tuple[int, int]] = []
    done = threading.Event()

    def on_message(message: IncomingMessage) -> None:
        got.append(parse(message.payload))
        if len(got) == PER_THREAD:
            done.set()

    receiver.subscribe("direct/corked", on_message)
    for client in (receiver, sender):
        client.start()
    try:
        for client in (receiver, sender):
            assert client.wait_connected(30)
            client.publish("direct/probe", b"", qos=1).wait_for_publish(30)
        before_sends, before_packets = sender._client.sends, sender._client.direct_writes
        with sender.corked():
            for seq in range(PER_THREAD):
                sender.publish("direct/corked", payload(0, seq), qos=1)
            assert sender._client.direct_writes == before_packets  # nothing written inside the block
        assert done.wait(60), f"got {len(got)} of {PER_THREAD}"
    finally:
        for client in (receiver, sender):
            client.stop()

    assert got == [(0, seq) for seq in range(PER_THREAD)]
    packets = sender._client.direct_writes - before_packets
    assert packets > 0 and sender._client.sends - before_sends < packets  # packets shared sends
