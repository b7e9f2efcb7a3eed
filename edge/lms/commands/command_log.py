"""The command log (seed table ``command_logs``), written off the hot path.

:meth:`CommandLog.append` only queues the row; one background thread writes rows in batches ("group
commit"): after the first row of a batch it waits :data:`COMMIT_DELAY_S` (cut short by :meth:`flush` or
:meth:`stop`), then writes everything queued, at most 500 rows per transaction. One wake-up per batch, not
per command, so the writer stays off the CPU while a command's reply is on its way.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from edge.lms.store import Batcher, Store, StoreError, json_or_none

log = logging.getLogger(__name__)

COMMIT_DELAY_S = 0.05
MAX_ROWS_PER_TRANSACTION = 500

_KEYS = (
    "id", "client_uuid", "command", "params", "response", "success", "executed_at", "request_id", "status",
    "error_code", "source", "duration_ms",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CommandLogEntry:
    client_uuid: str
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
        self._batcher: Batcher[CommandLogEntry] = Batcher("lms-command-log", self._write_all, delay_s=COMMIT_DELAY_S)
        self.written = 0
        self.write_errors = 0

    def start(self) -> CommandLog:
        self._batcher.start()
        return self

    def stop(self) -> None:
        self._batcher.stop()

    def append(self, entry: CommandLogEntry) -> None:
        """Queue one row (never blocks on disk I/O)."""
        self._batcher.put(entry)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row queued so far is written."""
        return self._batcher.flush(timeout_s)

    def recent(self, client_uuid: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest rows first (optionally of one client)."""
        sql = f"SELECT {', '.join(_KEYS)} FROM command_logs"
        args: list[Any] = []
        if client_uuid is not None:
            sql += " WHERE client_uuid = ?"
            args.append(client_uuid)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        out = []
        for r in self._store.query(sql, args):
            row = dict(zip(_KEYS, r, strict=True))
            row["params"] = json_or_none(row["params"])
            row["response"] = json_or_none(row["response"])
            row["success"] = bool(row["success"])
            out.append(row)
        return out

    # ------------------------------------------------------------ writer thread

    def _write_all(self, batch: list[CommandLogEntry]) -> None:
        for start in range(0, len(batch), MAX_ROWS_PER_TRANSACTION):
            self._write(batch[start : start + MAX_ROWS_PER_TRANSACTION])

    def _write(self, batch: list[CommandLogEntry]) -> None:
        rows = [
            (
                e.client_uuid, e.command, _dumps(e.params), _dumps(e.response), e.success, e.executed_at,
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


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return json.dumps(repr(value))
