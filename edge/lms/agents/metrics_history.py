"""Metrics history: every ``Metrics`` sample of every agent at full resolution, with retention.

:meth:`MetricsHistory.add` only queues the sample; one writer thread inserts them in batches (group commit,
like the command log), so 2,000 agents every 15 s cost a few transactions per second. The same thread
prunes samples older than ``retention_days`` every ``prune_interval_s``, :data:`PRUNE_BATCH` rows per
transaction so it never holds the database for long.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from typing import Any

from edge.lms.store import Store, StoreError, json_or_none
from shared.messages import Metrics

log = logging.getLogger(__name__)

COMMIT_DELAY_S = 0.2
MAX_ROWS_PER_TRANSACTION = 1000
PRUNE_BATCH = 5000
MAX_QUERY_LIMIT = 10_000

_STOP = object()


class MetricsHistory:
    """:meth:`start`, :meth:`add` from any thread, :meth:`query`, :meth:`stop` (writes what is left)."""

    def __init__(self, store: Store, *, retention_days: float, prune_interval_s: float = 3600.0) -> None:
        self._store = store
        self.retention_s = retention_days * 86400.0
        self.prune_interval_s = prune_interval_s
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._next_prune = 0.0
        self.written = 0
        self.pruned = 0
        self.write_errors = 0

    def start(self) -> MetricsHistory:
        self._next_prune = time.monotonic() + min(60.0, self.prune_interval_s)
        self._thread = threading.Thread(target=self._run, name="lms-metrics-history", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(10.0)
            self._thread = None

    def add(self, agent_id: str, sample: Metrics) -> None:
        """Queue one sample (never blocks on disk I/O)."""
        self._queue.put((agent_id, sample))

    def pending(self) -> int:
        return self._queue.qsize()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every sample queued so far is written (for tests and shutdown)."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    # ------------------------------------------------------------ queries

    def query(
        self, agent_id: str, *, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Samples of one agent, oldest first, within ``[since, until]`` (epoch seconds); at most ``limit``
        (the newest ``limit`` when there are more)."""
        limit = max(1, min(limit, MAX_QUERY_LIMIT))
        sql = "SELECT data FROM metrics WHERE agent_id = ?"
        args: list[Any] = [agent_id]
        if since is not None:
            sql += " AND ts >= ?"
            args.append(since)
        if until is not None:
            sql += " AND ts <= ?"
            args.append(until)
        sql += " ORDER BY ts DESC LIMIT ?"
        args.append(limit)
        rows = [json_or_none(r[0]) for r in self._store.query(sql, args)]
        return [r for r in reversed(rows) if isinstance(r, dict)]

    def count(self, agent_id: str | None = None) -> int:
        if agent_id is None:
            return int(self._store.query("SELECT COUNT(*) FROM metrics")[0][0])
        return int(self._store.query("SELECT COUNT(*) FROM metrics WHERE agent_id = ?", (agent_id,))[0][0])

    def prune(self, now: float | None = None) -> int:
        """Delete samples older than the retention, in batches. Returns how many went."""
        cutoff = (time.time() if now is None else now) - self.retention_s
        total = 0
        while True:
            with self._store.transaction() as conn:
                cur = conn.execute(
                    "DELETE FROM metrics WHERE rowid IN (SELECT rowid FROM metrics WHERE ts < ? LIMIT ?)",
                    (cutoff, PRUNE_BATCH),
                )
            total += cur.rowcount
            if cur.rowcount < PRUNE_BATCH:
                break
        self.pruned += total
        if total:
            log.info("metrics history: pruned %d samples older than %.0f days", total, self.retention_s / 86400)
        return total

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            wait = max(0.0, self._next_prune - time.monotonic())
            try:
                first = self._queue.get(timeout=wait)
            except queue.Empty:
                first = None
            if first is not None and first is not _STOP and not isinstance(first, threading.Event):
                time.sleep(COMMIT_DELAY_S)  # let the batch fill
            items = [] if first is None else [first]
            with contextlib.suppress(queue.Empty):
                while True:
                    items.append(self._queue.get_nowait())
            samples = [i for i in items if isinstance(i, tuple)]
            for start in range(0, len(samples), MAX_ROWS_PER_TRANSACTION):
                self._write(samples[start : start + MAX_ROWS_PER_TRANSACTION])
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
            if any(i is _STOP for i in items):
                return
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + self.prune_interval_s
                try:
                    self.prune()
                except (sqlite3.Error, StoreError):
                    log.exception("metrics history: prune failed")

    def _write(self, batch: list[Any]) -> None:
        rows = [
            (agent_id, s.timestamp, s.cpu_percent, s.mem_percent, s.model_dump_json(exclude_none=True))
            for agent_id, s in batch
        ]
        try:
            with self._store.transaction() as conn:
                conn.executemany(
                    "INSERT INTO metrics (agent_id, ts, cpu_percent, mem_percent, data) VALUES (?, ?, ?, ?, ?)", rows
                )
            self.written += len(rows)
        except (sqlite3.Error, StoreError):
            self.write_errors += 1
            log.exception("metrics history: could not write %d samples", len(rows))
