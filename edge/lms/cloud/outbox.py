"""The durable outbox: everything bound for the cloud is written to SQLite first, then delivered in order.

A message leaves the ``outbox`` table only after the cloud broker's PUBACK, so results survive a cloud outage
and an LMS restart (delivery is at least once: the cloud side is idempotent per request and agent).

The pump (one thread) sends only while the link is up. It takes the oldest rows, merges consecutive
``CommandResults`` rows of the same topic into fewer messages (up to 500 results: IoT Core meters per
message and per 5 KB), and consecutive ``SiteAlerts`` rows likewise (up to 200 alert changes, their order
kept), publishes a window of them, and deletes each acknowledged one. On the first failure it stops, counts
the attempt, backs off, and starts again from the oldest row.

With the default window of 1 the order is strict. A wider window pipelines publishes on the connection
(in order while all succeed), but when one fails after a later one was acknowledged the later one is sent
again after it: the cloud then sees a duplicate out of order. Merging keeps throughput high with window 1.

Poison messages. A failure is *permanent* when the link says so (``LinkError.permanent``: the broker refused
the message with a reason code that will not change on retry, e.g. NOT_AUTHORIZED or PAYLOAD_FORMAT_INVALID);
everything else (disconnects, timeouts, QUOTA_EXCEEDED, SERVER_BUSY) is transient and retried forever with
backoff, as above. On a permanent refusal:

* of a merged batch (several rows): its rows are marked to go out one by one (never merged again while this
  pump runs) and are sent again at once, so one bad row cannot take its neighbours down with it;
* of a single row: the row's refusals are counted (in memory: a restart starts the count again); after
  :data:`DEAD_AFTER` refusals it is moved, in one transaction, to the ``outbox_dead`` table (logged at ERROR
  with topic, row id and reason) and the pump goes on with the next rows at once; before that it backs off.

Every failure also bumps the row's ``attempts``. When the store refuses to delete what was acknowledged (a full
disk) the pump backs off and sends those rows again later (at least once, as above); it never stops. A site admin
lists dead rows, moves one back (:meth:`Outbox.retry_dead`: it then goes out *after* what is queued at that moment:
the order holds only among rows that were never dead) or discards it through ``/api/cloud/dead-letters``.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from edge.lms.cloud.outbox_rows import DeadLetter, OutboxItem, OutboxRows
from edge.lms.store import Store
from shared.backoff import Backoff
from shared.messages import MAX_PAYLOAD_BYTES, encode
from shared.messages.alert import MAX_ALERTS_PER_MESSAGE
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)
#: the first wait after a failed send; it doubles up to ``backoff_max_s``
RETRY_MIN_S = 0.5

#: Merged ``CommandResults`` stay well under IoT Core's 128 KB message limit.
MERGE_MAX_BYTES = 96 * 1024
MERGE_MAX_RESULTS = 500
#: Permanent refusals of a single row before it is moved to the dead-letter (``outbox_dead``).
DEAD_AFTER = 3


class Publisher(Protocol):
    """What the pump needs from the cloud link."""

    @property
    def connected(self) -> bool: ...

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]: ...


@dataclass(frozen=True, slots=True)
class Batch:
    """One message to publish, standing for one or more outbox rows."""

    ids: tuple[int, ...]
    topic: str
    payload: bytes


@dataclass
class OutboxStats:
    queued: int = 0
    delivered_rows: int = 0
    published: int = 0
    failures: int = 0
    dead_lettered: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class _Mergeable:
    """A kind of row whose consecutive runs (same topic) go out as one message: its ``type`` and list field."""

    topic_suffix: str
    type: str
    field: str
    max_items: int


#: Command results (up to 500 a message) and alert changes (``SiteAlerts``: up to 200, in their order).
MERGEABLE = (
    _Mergeable("/up/results", "command_results", "results", MERGE_MAX_RESULTS),
    _Mergeable("/up/alerts", "site_alerts", "alerts", MAX_ALERTS_PER_MESSAGE),
)


def _entries_of(item: OutboxItem, kind: _Mergeable) -> list[Any] | None:
    try:
        data = json.loads(item.payload)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == kind.type and isinstance(data.get(kind.field), list):
        return list(data[kind.field])
    return None


def coalesce(items: list[OutboxItem], mergeable: tuple[_Mergeable, ...] = MERGEABLE) -> list[Batch]:
    """Merge runs of rows of one :data:`MERGEABLE` kind on the same topic (in order); pass other rows through."""
    batches: list[Batch] = []
    run_ids: list[int] = []
    run_entries: list[Any] = []
    run_topic = ""
    run_kind: _Mergeable | None = None
    run_size = 0

    def close_run() -> None:
        nonlocal run_ids, run_entries, run_size
        if run_ids and run_kind is not None:
            body = {"v": 1, "type": run_kind.type, run_kind.field: run_entries}
            payload = json.dumps(body, separators=(",", ":")).encode()
            batches.append(Batch(tuple(run_ids), run_topic, payload))
        run_ids, run_entries, run_size = [], [], 0

    for item in items:
        kind = next((k for k in mergeable if item.topic.endswith(k.topic_suffix)), None)
        entries = _entries_of(item, kind) if kind is not None else None
        if kind is None or entries is None:
            close_run()
            batches.append(Batch((item.id,), item.topic, item.payload))
            continue
        fits = (
            item.topic == run_topic
            and kind is run_kind
            and len(run_entries) + len(entries) <= kind.max_items
            and run_size + len(item.payload) <= MERGE_MAX_BYTES
        )
        if run_ids and not fits:
            close_run()
        run_topic, run_kind = item.topic, kind
        run_ids.append(item.id)
        run_entries.extend(entries)
        run_size += len(item.payload)
    close_run()
    return batches


class Outbox:
    """:meth:`put` messages; :meth:`start` the pump once a :class:`Publisher` exists."""

    def __init__(
        self,
        store: Store,
        *,
        window: int = 1,
        ack_wait_s: float = 20.0,
        peek: int = 200,
        backoff_max_s: float = 30.0,
    ) -> None:
        self._rows = OutboxRows(store)
        self._window = window
        self._ack_wait_s = ack_wait_s
        self._peek = peek
        self._backoff_max_s = backoff_max_s
        self._wake = threading.Event()
        self._pump = WorkerThread("lms-outbox-pump", self._run, wake=self._wake.set, join_timeout_s=ack_wait_s + 5.0)
        self._stop = self._pump.stopping
        self._link: Publisher | None = None
        self._solo: set[int] = set()  # rows of a permanently refused merged batch: sent one by one
        self._refusals: dict[int, int] = {}  # permanent refusals per single row
        self.stats = OutboxStats()

    def put(self, topic: str, message: BaseModel | bytes) -> int:
        """Durably queue one message for the cloud (returns its outbox id) and wake the pump."""
        payload = message if isinstance(message, bytes) else encode(message)
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"outbox message of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit")
        row_id = self._rows.put(topic, payload)
        self.stats.queued += 1
        self._wake.set()
        return row_id

    def pending(self) -> int:
        return self._rows.count()

    def dead(self) -> int:
        """Rows moved to the dead-letter (``outbox_dead``) and still there."""
        return self._rows.dead_count()

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Dead rows, newest first (at most :data:`~edge.lms.cloud.outbox_rows.DEAD_LIST_MAX`)."""
        return self._rows.dead_list(limit)

    def dead_letter(self, dead_id: int) -> DeadLetter | None:
        return self._rows.dead_get(dead_id)

    def retry_dead(self, dead_id: int) -> int | None:
        """Move a dead row back to the outbox, after what is queued now; its new outbox id (None: unknown)."""
        outbox_id = self._rows.dead_retry(dead_id)
        if outbox_id is not None:
            self.wake()
        return outbox_id

    def discard_dead(self, dead_id: int) -> bool:
        """Drop a dead row for good; False when unknown."""
        return self._rows.dead_delete(dead_id)

    def wake(self) -> None:
        """Something changed (a message queued, the link connected): look again now."""
        self._wake.set()

    def start(self, link: Publisher) -> None:
        self._link = link
        self._pump.start()

    def stop(self) -> None:
        self._pump.stop()

    # ------------------------------------------------------------ pump

    def _run(self) -> None:
        # one peer (IoT Core), one process: no jitter needed
        backoff = Backoff(RETRY_MIN_S, max(RETRY_MIN_S, self._backoff_max_s), jitter=False)
        while not self._stop.is_set():
            link = self._link
            assert link is not None
            self._wake.clear()
            if not link.connected:
                self._wake.wait(30.0)
                continue
            try:
                items = self._rows.peek(self._peek)
            except Exception:
                log.exception("outbox: cannot read the outbox")
                self._stop.wait(1.0)
                continue
            if not items:
                self._wake.wait(30.0)
                continue
            try:
                sent = self._send_window(link, self._batches(items)[: self._window])
            except Exception as exc:  # the store refused the delete (a full disk): the rows go out again later
                log.error("outbox: cannot update the outbox after sending (%s): backing off", exc)
                sent = False
            if sent:
                backoff.reset()
                continue
            self._stop.wait(backoff.next())

    def _batches(self, items: list[OutboxItem]) -> list[Batch]:
        """:func:`coalesce`, except that rows marked solo (see the module docstring) go out one by one."""
        if not self._solo:
            return coalesce(items)
        by_id = {i.id: i for i in items}
        out: list[Batch] = []
        for batch in coalesce(items):
            if len(batch.ids) > 1 and self._solo.intersection(batch.ids):
                out.extend(Batch((i,), by_id[i].topic, by_id[i].payload) for i in batch.ids)
            else:
                out.append(batch)
        return out

    def _send_window(self, link: Publisher, batches: list[Batch]) -> bool:
        """Publish ``batches`` in order; delete each acknowledged one.

        True: go on at once (all sent, or a permanent refusal was dealt with); False: back off.
        """
        futures: list[tuple[Batch, Future[None]]] = []
        for batch in batches:
            try:
                futures.append((batch, link.publish(batch.topic, batch.payload, 1)))
            except Exception as exc:  # rejected at once (e.g. offline)
                futures.append((batch, _failed(exc)))
                break
        for batch, fut in futures:
            try:
                fut.result(self._ack_wait_s)
            except (Exception, FutureTimeout) as exc:
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox: delivery of %d row(s) to %s failed: %s", len(batch.ids), batch.topic, exc)
                self._rows.bump(batch.ids)
                if getattr(exc, "permanent", False):
                    return self._refused(batch, str(exc))
                return False
            self._rows.delete(batch.ids)
            self._forget(batch.ids)
            self.stats.published += 1
            self.stats.delivered_rows += len(batch.ids)
        return True

    def _refused(self, batch: Batch, reason: str) -> bool:
        """The broker refused ``batch`` for good: split it, count it, or dead-letter it. True: go on at once."""
        if len(batch.ids) > 1:
            self._solo.update(batch.ids)
            log.warning("outbox: merged message of rows %s refused; sending them one by one", list(batch.ids))
            return True
        row = batch.ids[0]
        refusals = self._refusals.get(row, 0) + 1
        if refusals < DEAD_AFTER:
            self._refusals[row] = refusals
            return False
        try:
            moved = self._rows.dead_letter(batch.ids, reason)
        except Exception:  # nothing was moved (one transaction): back off and try again
            log.exception("outbox: cannot move row(s) %s to the dead-letter", list(batch.ids))
            return False
        self._forget(batch.ids)
        self.stats.dead_lettered += moved
        log.error("outbox: row(s) %s to %s refused %d times, moved to the dead-letter: %s",
                  list(batch.ids), batch.topic, refusals, reason)  # fmt: skip
        return True

    def _forget(self, ids: tuple[int, ...]) -> None:
        for i in ids:
            self._solo.discard(i)
            self._refusals.pop(i, None)


def _failed(exc: BaseException) -> Future[None]:
    fut: Future[None] = Future()
    fut.set_exception(exc)
    return fut
