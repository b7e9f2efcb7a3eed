"""The archive of retired agents (``retired_agents``): what the LMS knew of an agent when it was retired, kept for
audit and history, out of the live fleet (``clients``, ``enrollments``, ``agent_tags``, group membership).

One row per retirement (an agent id retired, enrolled again with a fresh token and retired again has two rows).
``record`` holds, as JSON, the agent's ``clients`` row, its ``enrollments`` row and its tags and groups as they
were; ``reenrolled_at`` is set when the id enrols again (with an enrolment token made after ``retired_at``).
"""

from __future__ import annotations

import json
from typing import Any

from edge.lms.store import Store

#: Schema version 12 (edge/lms/schema.py).
RETIRED_AGENTS_TABLE_V12 = (
    """CREATE TABLE IF NOT EXISTS retired_agents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent_id TEXT NOT NULL,
        retired_at REAL NOT NULL,
        retired_by TEXT,
        reason TEXT,
        record TEXT NOT NULL,
        reenrolled_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS retired_agents_agent ON retired_agents (agent_id, id)",
)

_KEYS = ("id", "agent_id", "retired_at", "retired_by", "reason", "record", "reenrolled_at")
_CLIENT_KEYS = ("uuid", "name", "status", "kind", "last_seen", "first_seen", "hostname", "version", "ip_address",
                "settings", "status_reason", "status_changed_at")  # fmt: skip
_ENROLMENT_KEYS = ("hostname", "token_id", "enrolled_at", "rotated_at", "revoked_at")


class RetiredRows:
    """The ``retired_agents`` table, and the move of an agent's live rows into it (one transaction)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def archive(
        self, agent_id: str, *, at: float, by: str | None, reason: str | None, even_empty: bool = False
    ) -> dict[str, Any] | None:
        """Move the agent's live rows into the archive, in one transaction; the archived record, or ``None`` (and
        nothing changed) when the LMS has no row of it at all (neither an agent row nor an enrolment) unless
        ``even_empty``."""
        with self._store.transaction() as conn:
            client = conn.execute(f"SELECT {', '.join(_CLIENT_KEYS)} FROM clients WHERE uuid = ?",
                                  (agent_id,)).fetchone()  # fmt: skip
            enrolment = conn.execute(f"SELECT {', '.join(_ENROLMENT_KEYS)} FROM enrollments WHERE agent_id = ?",
                                     (agent_id,)).fetchone()  # fmt: skip
            if client is None and enrolment is None and not even_empty:
                return None
            tags = [r[0] for r in conn.execute("SELECT tag FROM agent_tags WHERE agent_id = ? ORDER BY tag",
                                               (agent_id,))]  # fmt: skip
            groups = [r[0] for r in conn.execute(
                "SELECT group_name FROM agent_group_members WHERE agent_id = ? ORDER BY group_name", (agent_id,))]
            record = {
                "agent": None if client is None else dict(zip(_CLIENT_KEYS, client, strict=True)),
                "enrolment": None if enrolment is None else dict(zip(_ENROLMENT_KEYS, enrolment, strict=True)),
                "tags": tags,
                "groups": groups,
            }
            cur = conn.execute(
                "INSERT INTO retired_agents (agent_id, retired_at, retired_by, reason, record) VALUES (?, ?, ?, ?, ?)",
                (agent_id, at, by, reason, json.dumps(record, separators=(",", ":"))),
            )
            for table, column in (("clients", "uuid"), ("enrollments", "agent_id"), ("agent_tags", "agent_id"),
                                  ("agent_group_members", "agent_id")):  # fmt: skip
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (agent_id,))
            return {"id": int(cur.lastrowid or 0), "agent_id": agent_id, "retired_at": at, "retired_by": by,
                    "reason": reason, "record": record, "reenrolled_at": None}  # fmt: skip

    def retired_at(self, agent_id: str) -> float | None:
        """When the agent was retired, while it has not enrolled again since (else ``None``)."""
        rows = self._store.query(
            "SELECT retired_at FROM retired_agents WHERE agent_id = ? AND reenrolled_at IS NULL ORDER BY id DESC "
            "LIMIT 1", (agent_id,),
        )  # fmt: skip
        return float(rows[0][0]) if rows else None

    def retired_ids(self) -> set[str]:
        """The agent ids retired and not enrolled again."""
        return {r[0] for r in self._store.query("SELECT agent_id FROM retired_agents WHERE reenrolled_at IS NULL")}

    def reenrolled(self, agent_id: str, at: float) -> bool:
        """The retired agent id enrolled again: its archive rows say so. False if it was not retired."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE retired_agents SET reenrolled_at = ? WHERE agent_id = ? AND reenrolled_at IS NULL",
                (at, agent_id),
            )
            return cur.rowcount > 0

    def entries(self, agent_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Archived retirements, newest first (``record`` decoded)."""
        where, params = ("WHERE agent_id = ? ", (agent_id, limit)) if agent_id else ("", (limit,))
        return self._store.select(f"SELECT {', '.join(_KEYS)} FROM retired_agents {where}ORDER BY id DESC LIMIT ?",
                                  params, _KEYS, json_keys=("record",))  # fmt: skip
