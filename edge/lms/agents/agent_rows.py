"""The registry's tables: one row per agent (the seed's ``clients``) and its presence changes (``connection_logs``).

The seed's names are kept on disk (``clients.uuid`` is the agent's id, ``connection_logs.client_uuid`` too); in code
a row is an :class:`AgentRow` and its id ``agent_id``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.lms.store import Store, json_or_none

#: Schema version 1: the seed's ``clients`` and ``connection_logs`` (with our columns).
AGENT_TABLES_V1 = (
    """CREATE TABLE IF NOT EXISTS clients (
            uuid TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            ip_address TEXT,
            last_seen REAL,
            status TEXT NOT NULL DEFAULT 'offline',
            metadata TEXT,
            kind TEXT NOT NULL DEFAULT 'agent',
            hostname TEXT,
            version TEXT,
            settings TEXT,
            status_reason TEXT,
            status_changed_at REAL,
            first_seen REAL NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS clients_status ON clients (status)",
    """CREATE TABLE IF NOT EXISTS connection_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_uuid TEXT NOT NULL,
            event_type TEXT NOT NULL,
            connected_at REAL,
            disconnected_at REAL,
            ip_address TEXT,
            reason TEXT
        )""",
    "CREATE INDEX IF NOT EXISTS connection_logs_client ON connection_logs (client_uuid, id)",
)

_CONNECTION_LOG_KEYS = ("id", "event_type", "connected_at", "disconnected_at", "ip_address", "reason")


@dataclass(slots=True)
class AgentRow:
    """One agent as stored (an MQTT agent, or a ClassTop client: ``kind`` ``legacy``)."""

    agent_id: str
    name: str
    status: str = "offline"
    kind: str = "agent"
    last_seen: float | None = None
    first_seen: float = 0.0
    hostname: str | None = None
    version: str | None = None
    ip_address: str | None = None
    settings: dict[str, str] | None = None
    status_reason: str | None = None
    status_changed_at: float | None = None
    #: the agent's configuration version from its retained ``Status`` (kept in memory only: the broker gives the
    #: retained status again at every subscribe)
    config_version: str | None = None


class AgentRows:
    """The ``clients`` and ``connection_logs`` tables (thread-safe: the store serialises)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def load(self) -> list[AgentRow]:
        rows = self._store.query(
            "SELECT uuid, name, status, kind, last_seen, first_seen, hostname, version, ip_address, settings, "
            "status_reason, status_changed_at FROM clients ORDER BY uuid"
        )
        out: list[AgentRow] = []
        for r in rows:
            settings = json_or_none(r[9])
            out.append(
                AgentRow(
                    agent_id=r[0], name=r[1], status=r[2], kind=r[3], last_seen=r[4], first_seen=r[5], hostname=r[6],
                    version=r[7], ip_address=r[8], settings=settings if isinstance(settings, dict) else None,
                    status_reason=r[10], status_changed_at=r[11],
                )
            )
        return out

    def upsert(self, row: AgentRow, *, connection_event: str | None = None) -> None:
        """Insert or replace an agent; with ``connection_event`` also append a connection log entry."""
        self.upsert_many([(row, connection_event)])

    def upsert_many(self, changes: Sequence[tuple[AgentRow, str | None]]) -> None:
        """:meth:`upsert` for several changes, in order, in one transaction."""
        with self._store.transaction() as conn:
            for row, connection_event in changes:
                conn.execute(
                    "INSERT INTO clients (uuid, name, status, kind, last_seen, first_seen, hostname, version, "
                    "ip_address, settings, status_reason, status_changed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(uuid) DO UPDATE SET name=excluded.name, status=excluded.status, "
                    "kind=excluded.kind, last_seen=excluded.last_seen, hostname=excluded.hostname, "
                    "version=excluded.version, ip_address=excluded.ip_address, settings=excluded.settings, "
                    "status_reason=excluded.status_reason, status_changed_at=excluded.status_changed_at",
                    (
                        row.agent_id, row.name, row.status, row.kind, row.last_seen, row.first_seen, row.hostname,
                        row.version, row.ip_address, None if row.settings is None else json.dumps(row.settings),
                        row.status_reason, row.status_changed_at,
                    ),
                )
                if connection_event is not None:
                    at = row.status_changed_at or time.time()
                    online = connection_event == "online"
                    conn.execute(
                        "INSERT INTO connection_logs (client_uuid, event_type, connected_at, disconnected_at, "
                        "ip_address, reason) VALUES (?, ?, ?, ?, ?, ?)",
                        (row.agent_id, connection_event, at if online else None, None if online else at,
                         row.ip_address, row.status_reason),
                    )

    def touch(self, seen: Iterable[tuple[str, float]]) -> None:
        """Batch-update ``last_seen`` (heartbeats are kept in memory and flushed here periodically)."""
        items = [(t, a) for a, t in seen]
        if not items:
            return
        with self._store.transaction() as conn:
            conn.executemany("UPDATE clients SET last_seen = ? WHERE uuid = ?", items)

    def connection_log(self, agent_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The agent's presence changes, newest first."""
        return self._store.select(
            f"SELECT {', '.join(_CONNECTION_LOG_KEYS)} FROM connection_logs WHERE client_uuid = ? ORDER BY id DESC "
            "LIMIT ?", (agent_id, limit), _CONNECTION_LOG_KEYS,
        )  # fmt: skip

    def kind(self, agent_id: str) -> str | None:
        """The stored row's ``kind`` (``agent``, ``legacy``), or ``None`` when there is no row."""
        rows = self._store.query("SELECT kind FROM clients WHERE uuid = ?", (agent_id,))
        return str(rows[0][0]) if rows else None

    def with_settings(self) -> list[tuple[str, str]]:
        """``(agent_id, settings as stored JSON)`` of every agent whose settings are known."""
        rows = self._store.query("SELECT uuid, settings FROM clients WHERE settings IS NOT NULL")
        return [(r[0], r[1]) for r in rows]
