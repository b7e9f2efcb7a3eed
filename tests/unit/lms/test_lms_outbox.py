"""The outbox: merging of queued results, in-order, ack-before-delete delivery by the pump, and the dead-letter.

IoT Core cannot run here: the stand-in links below acknowledge or refuse what the pump publishes; the refusals
are the link's own ``LinkError`` (permanent for a reason code that will not change on retry).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future

import pytest

from edge.lms.cloud import LinkError
from edge.lms.cloud.outbox import DEAD_AFTER, Outbox, coalesce
from edge.lms.cloud.outbox_rows import OutboxItem, OutboxRows
from edge.lms.store import Store
from shared.messages import AgentResult, CommandResults, CommandStatus, decode, encode
from shared.messages.alert import MAX_ALERTS_PER_MESSAGE, AlertRecord, AlertTarget, SiteAlerts

RESULTS = "ct/demo/dev/site/s1/up/results"
OTHER = "ct/demo/dev/site/s1/up/events"


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
    assert OutboxRows(store).count() == 0


def test_oversized_messages_are_refused_up_front(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        Outbox(store).put(OTHER, b"x" * (200 * 1024))
    assert OutboxRows(store).count() == 0


class RefusingLink:
    """A stand-in cloud link that refuses, for good or for now, every publish whose payload holds ``poison``."""

    def __init__(self, poison: bytes, *, permanent: bool = True) -> None:
        self.connected = True
        self.poison = poison
        self.permanent = permanent
        self.refusing = True
        self.sent: list[tuple[str, bytes]] = []
        self.refused: list[bytes] = []
        self.lock = threading.Lock()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        fut: Future[None] = Future()
        with self.lock:
            if self.refusing and self.poison in payload:
                self.refused.append(payload)
                code = "NOT_AUTHORIZED" if self.permanent else "QUOTA_EXCEEDED"
                fut.set_exception(LinkError(f"publish to {topic} refused: {code}", permanent=self.permanent))
                return fut
            self.sent.append((topic, payload))
        fut.set_result(None)
        return fut


def fast_outbox(store: Store) -> Outbox:
    return Outbox(store, backoff_max_s=0.01)


def run_until_empty(outbox: Outbox, link: RefusingLink) -> None:
    outbox.start(link)
    try:
        wait_until(lambda: outbox.pending() == 0)
    finally:
        outbox.stop()


def test_a_permanently_refused_row_is_dead_lettered_and_the_rows_behind_it_go_out_in_order(store: Store) -> None:
    outbox = fast_outbox(store)
    poison_id = outbox.put(OTHER, b'{"n": "poison"}')
    for i in range(3):
        outbox.put(OTHER, f'{{"n": {i}}}'.encode())
    link = RefusingLink(b"poison")
    run_until_empty(outbox, link)
    assert [p for _, p in link.sent] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert len(link.refused) == DEAD_AFTER
    assert outbox.stats.dead_lettered == 1 and outbox.dead() == 1
    [dead] = OutboxRows(store).dead_list()
    assert (dead.id, dead.topic, dead.size, dead.attempts) == (poison_id, OTHER, len(b'{"n": "poison"}'), DEAD_AFTER)
    assert "NOT_AUTHORIZED" in dead.reason


def test_a_poison_row_in_a_merged_batch_buries_only_itself(store: Store) -> None:
    outbox = fast_outbox(store)
    ids = [outbox.put(RESULTS, results(r)) for r in ("a", "bad", "c")]
    outbox.put(OTHER, b'{"after": 1}')
    link = RefusingLink(b'"bad"')
    run_until_empty(outbox, link)
    # the merged message (a, bad, c) was refused once, then the rows went one by one
    assert len(decode(CommandResults, link.refused[0]).results) == 3
    assert len(link.refused) == 1 + DEAD_AFTER
    sent_results = [[r.request_id for r in decode(CommandResults, p).results] for t, p in link.sent if t == RESULTS]
    assert sent_results == [["a"], ["c"]]
    assert link.sent[-1] == (OTHER, b'{"after": 1}')
    assert [d.id for d in OutboxRows(store).dead_list()] == [ids[1]]
    assert outbox.stats.dead_lettered == 1


def test_transient_failures_never_dead_letter(store: Store) -> None:
    outbox = fast_outbox(store)
    outbox.put(OTHER, b'{"n": "busy"}')
    outbox.put(OTHER, b'{"n": 1}')
    link = RefusingLink(b"busy", permanent=False)
    outbox.start(link)
    try:
        wait_until(lambda: len(link.refused) >= 3 * DEAD_AFTER)
        assert link.sent == [] and outbox.pending() == 2 and outbox.dead() == 0  # still blocking, in order
        link.refusing = False
        wait_until(lambda: outbox.pending() == 0)
    finally:
        outbox.stop()
    assert [p for _, p in link.sent] == [b'{"n": "busy"}', b'{"n": 1}']
    assert outbox.stats.dead_lettered == 0 and OutboxRows(store).dead_count() == 0


def test_a_dead_row_moved_back_is_delivered_after_what_is_queued(store: Store) -> None:
    outbox = fast_outbox(store)
    poison_id = outbox.put(OTHER, b'{"n": "poison"}')
    link = RefusingLink(b"poison")
    outbox.start(link)
    try:
        wait_until(lambda: outbox.dead() == 1)
        link.connected = False  # hold the pump while the admin moves the row back behind a newer one
        outbox.put(OTHER, b'{"n": "newer"}')
        link.refusing = False  # whatever refused it is fixed now
        new_id = OutboxRows(store).dead_retry(poison_id)
        assert new_id is not None and new_id > poison_id
        assert OutboxRows(store).dead_count() == 0 and OutboxRows(store).dead_retry(poison_id) is None
        link.connected = True
        outbox.wake()
        wait_until(lambda: outbox.pending() == 0)
    finally:
        outbox.stop()
    assert [p for _, p in link.sent] == [b'{"n": "newer"}', b'{"n": "poison"}']
    assert outbox.dead() == 0


def test_coalesce_merges_runs_of_alert_changes_in_order_within_the_message_limit() -> None:
    alerts_topic = RESULTS.replace("/up/results", "/up/alerts")

    def change(seq: int) -> bytes:
        record = AlertRecord(alert_id="a" * 32, key="b" * 32, seq=seq, rule_id="disk", rule_scope="site",
                             rule_name="disk", severity="error", condition_kind="metric_threshold", state="firing",
                             target=AlertTarget(kind="site"), opened_at=1, changed_at=seq)
        return encode(SiteAlerts(alerts=[record]))

    n = MAX_ALERTS_PER_MESSAGE + 3
    items = [item(i, alerts_topic, change(i)) for i in range(1, n + 1)]
    items.insert(2, item(999, RESULTS, results("x")))  # another kind breaks the run
    batches = coalesce(items)
    assert [len(b.ids) for b in batches] == [2, 1, MAX_ALERTS_PER_MESSAGE, n - 2 - MAX_ALERTS_PER_MESSAGE]
    seqs = [a.seq for b in batches if b.topic == alerts_topic for a in decode(SiteAlerts, b.payload).alerts]
    assert seqs == list(range(1, n + 1))


def test_a_full_disk_at_delete_time_does_not_stop_the_pump(store: Store) -> None:
    """The store refuses the delete of an acknowledged row (``database or disk is full``): the pump backs off and
    goes on; once the disk takes writes, every row is delivered (the refused one again: at least once)."""
    outbox = Outbox(store, backoff_max_s=0.5)
    for i in range(3):
        outbox.put(OTHER, f'{{"n": {i}}}'.encode())
    link = Link()
    # SQLite's own SQLITE_FULL for a DELETE needs a full filesystem (the chaos run's disk_full has one): the rows
    # object raises the error it raises there, once
    real_delete = outbox._rows.delete
    refused = threading.Event()

    def delete(ids: Iterable[int]) -> None:
        if not refused.is_set():
            refused.set()
            raise sqlite3.OperationalError("database or disk is full")
        real_delete(ids)

    outbox._rows.delete = delete  # type: ignore[method-assign]
    outbox.start(link)
    try:
        wait_until(refused.is_set)
        wait_until(lambda: outbox.pending() == 0)
        assert [p for _, p in link.sent] == [b'{"n": 0}', b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
        assert outbox._pump.running
    finally:
        outbox.stop()
