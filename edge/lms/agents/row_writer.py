"""How the registry's changes reach SQLite: presence and settings group-committed by one writer thread within
:data:`WRITE_DELAY_S` (in order; :meth:`RowWriter.stop` writes what is left), last-seen times in batches.

A presence change on the API's event loop (a ClassTop client connecting) so costs no disk transaction there. A
crash can lose the last ~50 ms of presence changes; presence is rebuilt from retained statuses, heartbeats and
reconnects anyway.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from edge.lms.agents.agent_rows import AgentRow, AgentRows
from edge.lms.store import Batcher

log = logging.getLogger(__name__)

#: Presence and settings changes are written at most this much later (one transaction per round).
WRITE_DELAY_S = 0.05


class RowWriter:
    def __init__(self, table: AgentRows) -> None:
        self._table = table
        self._writer: Batcher[tuple[AgentRow, str | None]] = Batcher(
            "lms-registry-writer", self._write_rows, delay_s=WRITE_DELAY_S
        )
        #: batches that could not be written (logged)
        self.write_errors = 0

    def start(self) -> None:
        self._writer.start()

    def stop(self) -> None:
        self._writer.stop()  # writes what is queued

    def flush(self, timeout_s: float = 10.0) -> bool:
        return self._writer.flush(timeout_s)

    def persist(self, row: AgentRow, connection_event: str | None = None) -> None:
        """Store the row (and a connection log entry): queued for the writer thread once started, else now."""
        if not self._writer.running:
            self._table.upsert(row, connection_event=connection_event)
            return
        settings = dict(row.settings) if row.settings is not None else None
        self._writer.put((replace(row, settings=settings), connection_event))

    def touch(self, last_seen: list[tuple[str, float]]) -> None:
        """Store agents' last-seen times (a failure is logged: the next flush writes newer ones)."""
        if not last_seen:
            return
        try:
            self._table.touch(last_seen)
        except Exception:
            log.exception("registry: could not store last-seen times")

    def _write_rows(self, batch: list[tuple[AgentRow, str | None]]) -> None:
        if not batch:
            return
        try:
            self._table.upsert_many(batch)
        except Exception:
            self.write_errors += 1
            log.exception("registry: could not store %d agent change(s)", len(batch))
