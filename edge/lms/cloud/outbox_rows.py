"""The outbox's tables: ``outbox`` (messages bound for the cloud, in order) and ``outbox_dead`` (the rows the cloud
refused for good, kept for the site admin to retry or discard)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from edge.lms.store import Store

#: Schema version 1.
OUTBOX_TABLE_V1 = (
    """CREATE TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0
        )""",
)
#: Schema version 7: the dead-letter.
OUTBOX_DEAD_TABLE_V7 = (
    """CREATE TABLE IF NOT EXISTS outbox_dead (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL,
            failed_at REAL NOT NULL,
            reason TEXT NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS outbox_dead_failed ON outbox_dead (failed_at, id)",
)

#: :meth:`OutboxRows.dead_list` returns at most this many rows.
DEAD_LIST_MAX = 1000
_DEAD_COLUMNS = "id, topic, length(payload), created_at, attempts, failed_at, reason"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    payload: bytes
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox row the cloud refused permanently (``outbox_dead``), without its payload bytes."""

    id: int
    topic: str
    size: int
    created_at: float
    attempts: int
    failed_at: float
    reason: str


class OutboxRows:
    """Both tables (thread-safe: the store serialises)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------ outbox

    def put(self, topic: str, payload: bytes) -> int:
        """Append a message bound for the cloud; durable when this returns."""
        with self._store.transaction() as conn:
            return self.insert(conn, topic, payload)

    @staticmethod
    def insert(conn: sqlite3.Connection, topic: str, payload: bytes, created_at: float | None = None) -> int:
        """Append a message inside the caller's transaction (with the rows that say it was sent)."""
        cur = conn.execute(
            "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
            (topic, payload, time.time() if created_at is None else created_at),
        )
        return int(cur.lastrowid or 0)

    def peek(self, limit: int = 100) -> list[OutboxItem]:
        """The oldest ``limit`` messages, in insertion order."""
        rows = self._store.query(
            "SELECT id, topic, payload, created_at, attempts FROM outbox ORDER BY id LIMIT ?", (limit,)
        )
        return [OutboxItem(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    def delete(self, ids: Iterable[int]) -> None:
        self._each("DELETE FROM outbox WHERE id = ?", ids)

    def bump(self, ids: Iterable[int]) -> None:
        """Count a failed delivery attempt."""
        self._each("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", ids)

    def count(self) -> int:
        return self._store.count("outbox")

    def _each(self, sql: str, ids: Iterable[int]) -> None:
        items = [(i,) for i in ids]
        if items:
            with self._store.transaction() as conn:
                conn.executemany(sql, items)

    # ------------------------------------------------------------ outbox_dead (the dead-letter)

    def dead_letter(self, ids: Iterable[int], reason: str, failed_at: float | None = None) -> int:
        """Move rows from ``outbox`` to ``outbox_dead`` (one transaction: all or nothing). Returns how many moved."""
        items = sorted({int(i) for i in ids})
        if not items:
            return 0
        at = time.time() if failed_at is None else failed_at
        marks = ",".join("?" * len(items))
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_dead (id, topic, payload, created_at, attempts, failed_at, reason) "
                f"SELECT id, topic, payload, created_at, attempts, ?, ? FROM outbox WHERE id IN ({marks})",
                (at, reason, *items),
            )
            return int(conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", items).rowcount)

    def dead_list(self, limit: int = 100) -> list[DeadLetter]:
        """Dead rows, newest first; ``limit`` is clamped to 1..:data:`DEAD_LIST_MAX`. Payload sizes, not bytes."""
        limit = max(1, min(int(limit), DEAD_LIST_MAX))
        rows = self._store.query(
            f"SELECT {_DEAD_COLUMNS} FROM outbox_dead ORDER BY failed_at DESC, id DESC LIMIT ?", (limit,)
        )
        return [DeadLetter(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def dead_get(self, dead_id: int) -> DeadLetter | None:
        rows = self._store.query(f"SELECT {_DEAD_COLUMNS} FROM outbox_dead WHERE id = ?", (dead_id,))
        if not rows:
            return None
        r = rows[0]
        return DeadLetter(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6])

    def dead_count(self) -> int:
        return self._store.count("outbox_dead")

    def dead_retry(self, dead_id: int) -> int | None:
        """Move a dead row back to the outbox (``attempts`` 0); returns its new outbox id, None when unknown.

        It gets a new id, so it goes out after everything queued now: the outbox's order holds only among rows
        that were never dead.
        """
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT topic, payload, created_at FROM outbox_dead WHERE id = ?", (dead_id,)
            ).fetchone()
            if row is None:
                return None
            new_id = self.insert(conn, row[0], row[1], row[2])
            conn.execute("DELETE FROM outbox_dead WHERE id = ?", (dead_id,))
            return new_id

    def dead_delete(self, dead_id: int) -> bool:
        """Discard a dead row for good; False when unknown."""
        with self._store.transaction() as conn:
            return conn.execute("DELETE FROM outbox_dead WHERE id = ?", (dead_id,)).rowcount == 1
