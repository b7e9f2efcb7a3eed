"""The stored agent events (table ``events``), with the ``cctv.*`` ones also in the seed's ``cctv_logs``; bounded
by age and row count."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from edge.lms.cctv import CctvLog
from edge.lms.cloud.event_forwarding import truncated
from edge.lms.store import Store, Where, json_text
from shared.messages import Event, Severity

#: Schema version 4.
EVENTS_TABLE_V4 = (
    """CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            data TEXT,
            timestamp REAL NOT NULL,
            received_at REAL NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS events_agent ON events (agent_id, id)",
    "CREATE INDEX IF NOT EXISTS events_timestamp ON events (timestamp)",
)

MAX_DETAIL_CHARS = 8192
_SEVERITY_ORDER = {s: i for i, s in enumerate((Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL))}
_KEYS = ("id", "agent_id", "kind", "severity", "message", "data", "timestamp", "received_at")
#: One event as received: (agent id, event, received at).
Received = tuple[str, Event, float]


class EventLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    def write(self, batch: Sequence[Received]) -> None:
        """Store events (and the ``cctv.*`` ones in ``cctv_logs``) in one transaction."""
        rows = [
            (agent_id, e.kind, e.severity.value, e.message, _bounded_json(e.data), e.timestamp, at)
            for agent_id, e, at in batch
        ]
        cctv = [
            (agent_id, e.kind, _camera(e),
             _bounded_json({"severity": e.severity.value, "message": e.message, **e.data}), e.timestamp)
            for agent_id, e, _at in batch
            if e.kind.startswith("cctv.")
        ]  # fmt: skip
        with self._store.transaction() as conn:
            conn.executemany(
                "INSERT INTO events (agent_id, kind, severity, message, data, timestamp, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            CctvLog.insert(conn, cctv)

    def recent(
        self,
        *,
        agent_id: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        severity: Severity | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Stored events, newest first. ``kind`` ending in ``.`` or ``*`` matches a prefix (``cctv.``)."""
        where = Where().equal("agent_id", agent_id)
        if kind is not None and kind.endswith(("*", ".")):
            prefix = kind.rstrip("*")
            where.add("substr(kind, 1, ?) = ?", len(prefix), prefix)
        else:
            where.equal("kind", kind)
        where.at_least("timestamp", since)
        if severity is not None:
            allowed = [s.value for s, i in _SEVERITY_ORDER.items() if i >= _SEVERITY_ORDER[severity]]
            where.add(f"severity IN ({', '.join('?' * len(allowed))})", *allowed)
        return self._store.select(
            f"SELECT {', '.join(_KEYS)} FROM events{where.sql} ORDER BY id DESC LIMIT ?", [*where.args, limit], _KEYS,
            json_keys=("data",),
        )  # fmt: skip

    def newest_keys(self, limit: int) -> list[tuple[str, str, float]]:
        """The (agent, kind, timestamp) of the newest ``limit`` events, oldest first: what a restarted LMS remembers
        to drop repeats (an event it wrote but had not acknowledged to the broker when it was killed comes again)."""
        with self._store.transaction() as conn:
            rows = conn.execute("SELECT agent_id, kind, timestamp FROM events ORDER BY id DESC LIMIT ?",
                                (limit,)).fetchall()  # fmt: skip
        return [(str(a), str(k), float(t)) for a, k, t in reversed(rows)]

    def prune(self, before: float, max_rows: int) -> int:
        """Delete events (and ``cctv.*`` rows of ``cctv_logs``) older than ``before``, then the oldest events beyond
        ``max_rows``. Returns rows deleted."""
        with self._store.transaction() as conn:
            deleted = conn.execute("DELETE FROM events WHERE timestamp < ?", (before,)).rowcount
            deleted += CctvLog.prune_events(conn, before)
            row = conn.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", (max_rows,)).fetchone()
            if row is not None:
                deleted += conn.execute("DELETE FROM events WHERE id <= ?", (row[0],)).rowcount
        return int(deleted)


def _camera(event: Event) -> str | None:
    value = event.data.get("camera_id")
    return None if value is None else str(value)[:64]


def _bounded_json(value: Any) -> str:
    """Compact JSON; data too big to keep whole is replaced by a marker (stored text is always valid JSON)."""
    text = json_text(value)
    return text if len(text) <= MAX_DETAIL_CHARS else json.dumps(truncated(len(text)))
