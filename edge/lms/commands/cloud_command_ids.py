"""The ids of the cloud commands this site has handled (table ``cloud_commands``), so that a redelivery of one,
also after an LMS restart, is not run again."""

from __future__ import annotations

from edge.lms.store import Store

#: Schema version 6.
CLOUD_COMMAND_TABLE_V6 = (
    """CREATE TABLE IF NOT EXISTS cloud_commands (
            request_id TEXT PRIMARY KEY,
            received_at REAL NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS cloud_commands_received ON cloud_commands (received_at)",
)


class CloudCommandIds:
    def __init__(self, store: Store) -> None:
        self._store = store

    def remember(self, request_id: str, received_at: float) -> bool:
        """Record a cloud command's id: False when it was recorded before (a redelivery, maybe across a restart)."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO cloud_commands (request_id, received_at) VALUES (?, ?)",
                (request_id, received_at),
            )
            return cur.rowcount == 1

    def forget(self, before: float) -> int:
        """Drop the ids recorded before ``before`` (epoch seconds). Returns how many."""
        with self._store.transaction() as conn:
            return int(conn.execute("DELETE FROM cloud_commands WHERE received_at < ?", (before,)).rowcount)
