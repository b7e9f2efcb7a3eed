"""The command log (the seed's table ``command_logs``), written off the hot path.

:meth:`CommandLog.append` only queues the row; one background thread writes rows in batches ("group
commit"): after the first row of a batch it waits :data:`COMMIT_DELAY_S` (cut short by :meth:`flush` or
:meth:`stop`), then writes everything queued, at most 500 rows per transaction. One wake-up per batch, not
per command, so the writer stays off the CPU while a command's reply is on its way.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.lms.store import Batcher, Store, StoreError, Where, json_text

log = logging.getLogger(__name__)

#: Schema version 1: the seed's ``command_logs`` (with our columns). ``client_uuid`` is the agent's id.
COMMAND_LOG_TABLE_V1 = (
    """CREATE TABLE IF NOT EXISTS command_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_uuid TEXT NOT NULL,
            command TEXT NOT NULL,
            params TEXT,
            response TEXT,
            success BOOLEAN,
            executed_at REAL NOT NULL,
            request_id TEXT,
            status TEXT,
            error_code TEXT,
            source TEXT,
            duration_ms REAL
        )""",
    "CREATE INDEX IF NOT EXISTS command_logs_client ON command_logs (client_uuid, id)",
)

COMMIT_DELAY_S = 0.05
MAX_ROWS_PER_TRANSACTION = 500

_KEYS = (
    "id", "client_uuid", "command", "params", "response", "success", "executed_at", "request_id", "status",
    "error_code", "source", "duration_ms",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CommandLogEntry:
    agent_id: str
    command: str
    params: dict[str, Any]
    request_id: str
    status: str
    success: bool
    response: Any
    error_code: str | None
    source: str
    duration_ms: float
    executed_at: float


class CommandLog:
    """:meth:`start`, :meth:`append` from any thread, :meth:`stop` (writes what is left)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._batcher: Batcher[CommandLogEntry] = Batcher(
            "lms-command-log", self._write, delay_s=COMMIT_DELAY_S, max_batch=MAX_ROWS_PER_TRANSACTION
        )
        self.written = 0
        self.write_errors = 0
        self._listeners: list[Callable[[CommandLogEntry], None]] = []

    def add_listener(self, listener: Callable[[CommandLogEntry], None]) -> None:
        """Told of every row appended (on the appending thread: quick, never blocking)."""
        self._listeners.append(listener)

    def start(self) -> CommandLog:
        self._batcher.start()
        return self

    def stop(self) -> None:
        self._batcher.stop()

    def append(self, entry: CommandLogEntry) -> None:
        """Queue one row (never blocks on disk I/O)."""
        self._batcher.put(entry)
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:
                log.exception("command log: a listener failed on %s", entry.request_id)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row queued so far is written."""
        return self._batcher.flush(timeout_s)

    def recent(self, agent_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest rows first (optionally of one agent), with the seed's column names."""
        where = Where().equal("client_uuid", agent_id)
        rows = self._store.select(
            f"SELECT {', '.join(_KEYS)} FROM command_logs{where.sql} ORDER BY id DESC LIMIT ?", [*where.args, limit],
            _KEYS, json_keys=("params", "response"),
        )  # fmt: skip
        for row in rows:
            row["success"] = bool(row["success"])
        return rows

    def answers_since(self, after_id: int, command: str) -> list[tuple[int, str, str | None]]:
        """``(row id, agent id, response as stored JSON)`` of the successful ``command`` rows after ``after_id``."""
        rows = self._store.query(
            "SELECT id, client_uuid, response FROM command_logs WHERE id > ? AND command = ? AND success = 1 "
            "ORDER BY id", (after_id, command),
        )  # fmt: skip
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    # ------------------------------------------------------------ writer thread

    def _write(self, batch: list[CommandLogEntry]) -> None:
        if not batch:
            return
        rows = [
            (
                e.agent_id, e.command, _json(e.params), _json(e.response), e.success, e.executed_at,
                e.request_id, e.status, e.error_code, e.source, e.duration_ms,
            )
            for e in batch
        ]  # fmt: skip
        try:
            with self._store.transaction() as conn:
                conn.executemany(
                    f"INSERT INTO command_logs ({', '.join(_KEYS[1:])}) VALUES ({', '.join('?' * (len(_KEYS) - 1))})",
                    rows,
                )
            self.written += len(rows)
        except (sqlite3.Error, StoreError):
            self.write_errors += 1
            log.exception("could not write %d command log rows", len(rows))


def _json(value: Any) -> str | None:
    return None if value is None else json_text(value)
