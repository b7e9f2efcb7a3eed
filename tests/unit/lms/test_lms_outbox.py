"""The outbox: merging of queued results, and in-order, ack-before-delete delivery by the pump."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from edge.lms.outbox import Outbox, coalesce
from edge.lms.store import OutboxItem, Store
from shared.messages import AgentResult, CommandResults, CommandStatus, decode, encode

RESULTS = "ct/demo/site/s1/up/results"
OTHER = "ct/demo/site/s1/up/events"


def results(*ids: str) -> bytes:
    return encode(
        CommandResults(
            results=[
                AgentResult(request_id=i, agent_id="agent-1", status=CommandStatus.SUCCEEDED, timestamp=1.0)
                for i in ids
            ]
        )
    )


def item(n: int, topic: str, payload: bytes) -> OutboxItem:
    return OutboxItem(n, topic, payload, 0.0, 0)


def test_coalesce_merges_runs_of_results_in_order() -> None:
    items = [
        item(1, RESULTS, results("a")),
        item(2, RESULTS, results("b", "c")),
        item(3, OTHER, b'{"x": 1}'),
        item(4, RESULTS, results("d")),
    ]
    batches = coalesce(items)
    assert [b.ids for b in batches] == [(1, 2), (3,), (4,)]
    merged = decode(CommandResults, batches[0].payload)
    assert [r.request_id for r in merged.results] == ["a", "b", "c"]
    assert batches[1].payload == b'{"x": 1}'


def test_coalesce_respects_the_result_count_limit() -> None:
    many = [item(i, RESULTS, results(*[f"r{i}-{k}" for k in range(200)])) for i in range(1, 5)]
    batches = coalesce(many)
    assert [b.ids for b in batches] == [(1, 2), (3, 4)]
    assert all(len(decode(CommandResults, b.payload).results) == 400 for b in batches)


class Link:
    """A stand-in cloud link: acknowledges, or fails, what the pump publishes, and records it."""

    def __init__(self) -> None:
        self.connected = True
        self.fail_next = 0
        self.sent: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        fut: Future[None] = Future()
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                fut.set_exception(RuntimeError("no PUBACK"))
                return fut
            self.sent.append((topic, payload))
        fut.set_result(None)
        return fut


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "lms.db").open()
    yield s
    s.close()


def wait_until(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert cond(), "condition not reached"  # type: ignore[operator]


def test_pump_delivers_in_order_and_deletes_only_after_the_ack(store: Store) -> None:
    outbox = Outbox(store)  # window 1: strict order
    link = Link()
    link.connected = False
    for i in range(3):
        outbox.put(OTHER, f'{{"n": {i}}}'.encode())
    outbox.start(link)
    try:
        time.sleep(0.1)
        assert link.sent == [] and outbox.pending() == 3  # nothing leaves while the link is down
        link.fail_next = 1
        link.connected = True
        outbox.wake()
        wait_until(lambda: outbox.pending() == 0)
        assert [p for _, p in link.sent] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']  # retried in place
        assert outbox.stats.failures == 1
        outbox.put(RESULTS, results("late"))
        wait_until(lambda: len(link.sent) == 4)
    finally:
        outbox.stop()
    assert store.outbox_count() == 0


def test_oversized_messages_are_refused_up_front(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        Outbox(store).put(OTHER, b"x" * (200 * 1024))
    assert store.outbox_count() == 0
