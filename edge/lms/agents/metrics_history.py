"""Metrics history: every ``Metrics`` sample of every agent at full resolution, with retention (table ``metrics``).

:meth:`MetricsHistory.add` only queues the sample; one writer thread (:class:`~edge.lms.store.Batcher`) inserts
them in batches (group commit, like the command log), so 2,000 agents every 15 s cost a few transactions per
second. Samples older than ``retention_days`` are pruned every ``prune_interval_s`` (the first time a minute after
the start, or sooner for a shorter interval), :data:`PRUNE_BATCH` rows per transaction so that it never holds the
database for long.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any

from edge.lms.store import Batcher, Store, StoreError, Where, json_or_none
from shared.messages import Metrics
from shared.periodic import Periodic

log = logging.getLogger(__name__)

#: Schema version 2: one row per sample (``data`` is the whole sample, JSON).
METRICS_TABLE_V2 = (
    """CREATE TABLE IF NOT EXISTS metrics (
            agent_id TEXT NOT NULL,
            ts REAL NOT NULL,
            cpu_percent REAL,
            mem_percent REAL,
            data TEXT NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS metrics_agent_ts ON metrics (agent_id, ts)",
    "CREATE INDEX IF NOT EXISTS metrics_ts ON metrics (ts)",
)
#: Schema version 16: the figures the metric rollups add (issue 12's charts), in columns like CPU and memory so
#: that the hourly rollup reads no JSON: the fullest disk's used % and the network rates (bytes/s). Rows written
#: before it hold NULL there: their buckets carry no disk or network figure (a gap in the charts, not a zero).
METRICS_ROLLUP_COLUMNS_V16 = (
    "ALTER TABLE metrics ADD COLUMN disk_percent REAL",
    "ALTER TABLE metrics ADD COLUMN net_rx_bps REAL",
    "ALTER TABLE metrics ADD COLUMN net_tx_bps REAL",
)

COMMIT_DELAY_S = 0.2
MAX_ROWS_PER_TRANSACTION = 1000
PRUNE_BATCH = 5000
MAX_QUERY_LIMIT = 10_000
#: The first prune comes this long after the start at the latest.
FIRST_PRUNE_S = 60.0


class MetricsHistory:
    """:meth:`start`, :meth:`add` from any thread, :meth:`query`, :meth:`stop` (writes what is left)."""

    def __init__(self, store: Store, *, retention_days: float, prune_interval_s: float = 3600.0) -> None:
        self._store = store
        self.retention_s = retention_days * 86400.0
        self.prune_interval_s = prune_interval_s
        self._writer: Batcher[tuple[str, Metrics]] = Batcher(
            "lms-metrics-history", self._write, delay_s=COMMIT_DELAY_S, max_batch=MAX_ROWS_PER_TRANSACTION
        )
        # Checked every minute (or every interval, when shorter); pruned when due.
        self._pruner = Periodic(
            "lms-metrics-prune", self._prune_when_due, min(FIRST_PRUNE_S, prune_interval_s), run_at_start=False
        )
        self._next_prune = 0.0
        self.written = 0
        self.pruned = 0
        self.write_errors = 0

    def start(self) -> MetricsHistory:
        self._next_prune = time.monotonic() + min(FIRST_PRUNE_S, self.prune_interval_s)
        self._writer.start()
        self._pruner.start()
        return self

    def stop(self) -> None:
        self._pruner.stop()
        self._writer.stop()

    def add(self, agent_id: str, sample: Metrics) -> None:
        """Queue one sample (never blocks on disk I/O)."""
        self._writer.put((agent_id, sample))

    def pending(self) -> int:
        return self._writer.waiting

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every sample queued so far is written (for tests and shutdown)."""
        return self._writer.flush(timeout_s)

    # ------------------------------------------------------------ queries

    def query(
        self, agent_id: str, *, since: float | None = None, until: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Samples of one agent, oldest first, within ``[since, until]`` (epoch seconds); at most ``limit``
        (the newest ``limit`` when there are more)."""
        limit = max(1, min(limit, MAX_QUERY_LIMIT))
        where = Where().equal("agent_id", agent_id).at_least("ts", since).at_most("ts", until)
        sql = f"SELECT data FROM metrics{where.sql} ORDER BY ts DESC LIMIT ?"
        rows = [json_or_none(r[0]) for r in self._store.query(sql, [*where.args, limit])]
        return [r for r in reversed(rows) if isinstance(r, dict)]

    def count(self, agent_id: str | None = None) -> int:
        if agent_id is None:
            return self._store.count("metrics")
        return self._store.count("metrics", "agent_id = ?", (agent_id,))

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

    # ------------------------------------------------------------ background work

    def _prune_when_due(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + self.prune_interval_s
        try:
            self.prune()
        except (sqlite3.Error, StoreError):
            log.exception("metrics history: prune failed")

    def _write(self, batch: list[tuple[str, Metrics]]) -> None:
        if not batch:
            return
        rows = [
            (
                agent_id,
                s.timestamp,
                s.cpu_percent,
                s.mem_percent,
                fullest_disk(s),
                s.net_rx_bps,
                s.net_tx_bps,
                s.model_dump_json(exclude_none=True),
            )
            for agent_id, s in batch
        ]
        try:
            with self._store.transaction() as conn:
                conn.executemany(
                    "INSERT INTO metrics (agent_id, ts, cpu_percent, mem_percent, disk_percent, net_rx_bps, net_tx_bps,"
                    " data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            self.written += len(rows)
        except (sqlite3.Error, StoreError):
            self.write_errors += 1
            log.exception("metrics history: could not write %d samples", len(rows))


def fullest_disk(sample: Metrics) -> float | None:
    """The used % of the sample's fullest disk (``None`` without disks): the one figure an admin watches (a full
    disk is what breaks a machine), the same one the alert rules' ``disk_used_percent`` reads."""
    return max((d.percent for d in sample.disks), default=None)


#: the columns :func:`metric_buckets` rolls up, each as min, avg, max (SQL's aggregates skip NULLs: a sample without
#: a figure, such as the first network rate after a counter reset, neither counts as a zero nor empties the bucket)
ROLLUP_COLUMNS = ("cpu_percent", "mem_percent", "disk_percent", "net_rx_bps", "net_tx_bps")


def metric_buckets(store: Store, since: float, until: float, period_s: int) -> list[tuple[Any, ...]]:
    """Per agent and ``period_s`` bucket of ``[since, until)``, oldest first: ``(agent_id, bucket start, samples,
    then min, avg, max of each of ROLLUP_COLUMNS)`` (samples without a CPU figure left out)."""
    figures = ", ".join(f"MIN({c}), AVG({c}), MAX({c})" for c in ROLLUP_COLUMNS)
    return store.query(
        f"SELECT agent_id, CAST(ts / ? AS INTEGER) * ? AS bucket, COUNT(*), {figures} FROM metrics "
        "WHERE ts >= ? AND ts < ? AND cpu_percent IS NOT NULL GROUP BY agent_id, bucket ORDER BY bucket, agent_id",
        (period_s, period_s, since, until),
    )
