"""The seed's CCTV log (table ``cctv_logs``): agents' ``cctv.*`` events and the CCTV control done through the API.

``client_uuid`` is the agent's id (the seed's column name); ``details`` is JSON.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from edge.lms.store import Store

#: Schema version 1: the seed's table.
CCTV_LOG_TABLE_V1 = (
    """CREATE TABLE IF NOT EXISTS cctv_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_uuid TEXT NOT NULL,
            event_type TEXT NOT NULL,
            camera_id TEXT,
            details TEXT,
            created_at REAL NOT NULL
        )""",
)
#: Schema version 4: an index for the per-agent listing.
CCTV_LOG_INDEX_V4 = ("CREATE INDEX IF NOT EXISTS cctv_logs_client ON cctv_logs (client_uuid, id)",)

MAX_DETAIL_CHARS = 4096
#: One row: (agent id, event type, camera id, details as JSON text, created at).
CctvLogRow = tuple[str, str, str | None, str, float]


class CctvLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, agent_id: str, event_type: str, camera_id: str | None, details: Any) -> None:
        """One row, now (camera changes and recording/streaming control through the API)."""
        text = json.dumps(details, default=str, separators=(",", ":"))[:MAX_DETAIL_CHARS]
        with self._store.transaction() as conn:
            self.insert(conn, [(agent_id, event_type, camera_id, text, time.time())])

    @staticmethod
    def insert(conn: sqlite3.Connection, rows: Sequence[CctvLogRow]) -> None:
        """Rows inside the caller's transaction (the agent events writer stores them with its own)."""
        conn.executemany(
            "INSERT INTO cctv_logs (client_uuid, event_type, camera_id, details, created_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    @staticmethod
    def prune_events(conn: sqlite3.Connection, before: float) -> int:
        """Inside the caller's transaction: drop the ``cctv.*`` event rows created before ``before``."""
        return int(
            conn.execute("DELETE FROM cctv_logs WHERE created_at < ? AND event_type LIKE 'cctv.%'", (before,)).rowcount
        )
