"""The offline queue's table, ``command_queue``: one row per command waiting for (or delivered to) an agent.

States: ``queued`` -> ``delivering`` -> ``done`` / ``expired`` / ``cancelled``; ``interrupted`` for a row found
``delivering`` when the LMS starts (see :mod:`edge.lms.commands.offline_queue`).
"""

from __future__ import annotations

import json
import time
from typing import Any

from edge.lms.store import Store, Where

#: Schema version 2.
COMMAND_QUEUE_TABLE_V2 = (
    """CREATE TABLE IF NOT EXISTS command_queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent_id TEXT NOT NULL,
            command TEXT NOT NULL,
            params TEXT NOT NULL,
            timeout_s REAL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            actor TEXT,
            state TEXT NOT NULL DEFAULT 'queued',
            request_id TEXT,
            result TEXT,
            finished_at REAL
        )""",
    "CREATE INDEX IF NOT EXISTS command_queue_agent ON command_queue (agent_id, state, id)",
)

#: Schema version 10: the cloud's command id of each queued cloud command (the site's own commands have none).
COMMAND_QUEUE_CLOUD_V10 = (
    """CREATE TABLE IF NOT EXISTS command_queue_cloud (
            queue_id INTEGER PRIMARY KEY,
            command_id TEXT NOT NULL
        )""",
)
_FROM = " FROM command_queue LEFT JOIN command_queue_cloud ON command_queue_cloud.queue_id = command_queue.id"

_KEYS = (
    "id", "agent_id", "command", "params", "timeout_s", "created_at", "expires_at", "actor", "state", "request_id",
    "result", "finished_at", "command_id",
)  # fmt: skip


class QueueRows:
    """Queries and state changes of ``command_queue`` (each one transaction)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(
        self, agent_id: str, command: str, params: dict[str, Any], *, timeout_s: float | None, ttl_s: float,
        actor: str | None, command_id: str | None = None,
    ) -> int:  # fmt: skip
        now = time.time()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO command_queue (agent_id, command, params, timeout_s, created_at, expires_at, actor) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (agent_id, command, json.dumps(params), timeout_s, now, now + ttl_s, actor),
            )
            item_id = int(cur.lastrowid or 0)
            if command_id is not None:
                conn.execute("INSERT INTO command_queue_cloud (queue_id, command_id) VALUES (?, ?)",
                             (item_id, command_id))
        return item_id

    def get(self, item_id: int) -> dict[str, Any] | None:
        rows = self._select(Where().equal("id", item_id), "", 1)
        return rows[0] if rows else None

    def entries(self, agent_id: str | None, state: str | None, limit: int) -> list[dict[str, Any]]:
        return self._select(Where().equal("agent_id", agent_id).equal("state", state), " ORDER BY id DESC", limit)

    def next_queued(self, agent_id: str) -> dict[str, Any] | None:
        """The agent's oldest queued row."""
        rows = self._select(Where().equal("agent_id", agent_id).add("state = 'queued'"), " ORDER BY id", 1)
        return rows[0] if rows else None

    def depth(self) -> int:
        return self._store.count("command_queue", "state = 'queued'")

    def agents_waiting(self) -> list[str]:
        """The agents with queued rows."""
        return [a for (a,) in self._store.query("SELECT DISTINCT agent_id FROM command_queue WHERE state = 'queued'")]

    def _update(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._store.transaction() as conn:
            return int(conn.execute(sql, params).rowcount)

    def cancel(self, item_id: int) -> bool:
        """A still-queued row becomes ``cancelled``; ``False`` when it is not queued (any more)."""
        return self._update(
            "UPDATE command_queue SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'queued'",
            (time.time(), item_id),
        ) == 1

    def interrupt_delivering(self, why: str) -> tuple[int, int]:
        """Rows left ``delivering`` by an LMS that stopped: a cloud command's (``command_id``) goes back to ``queued``
        (its agent answers it from its journal if it ran it: docs/architecture.md#delivery-of-commands-and-results),
        any other becomes ``interrupted``. Returns how many of each."""
        requeued = self._update(
            "UPDATE command_queue SET state = 'queued', request_id = NULL WHERE state = 'delivering'"
            " AND id IN (SELECT queue_id FROM command_queue_cloud)", (),
        )  # fmt: skip
        interrupted = self._update(
            "UPDATE command_queue SET state = 'interrupted', finished_at = ?, result = ? WHERE state = 'delivering'",
            (time.time(), json.dumps({"error": why})),
        )
        return requeued, interrupted

    def expire(self) -> list[tuple[str, str | None]]:
        """Queued rows past their TTL become ``expired``. Returns their ``(agent id, cloud command id)``."""
        now = time.time()
        with self._store.transaction() as conn:
            rows = conn.execute(
                f"SELECT agent_id, command_id{_FROM} WHERE state = 'queued' AND expires_at <= ?", (now,)
            ).fetchall()
            if rows:
                conn.execute(
                    "UPDATE command_queue SET state = 'expired', finished_at = ? WHERE state = 'queued' "
                    "AND expires_at <= ?", (now, now),
                )  # fmt: skip
        return [(str(r[0]), r[1]) for r in rows]

    def start_delivery(self, item_id: int, request_id: str) -> bool:
        """``queued`` -> ``delivering``; ``False`` when the row is no longer queued (cancelled meanwhile)."""
        return self._update(
            "UPDATE command_queue SET state = 'delivering', request_id = ? WHERE id = ? AND state = 'queued'",
            (request_id, item_id),
        ) == 1

    def requeue(self, item_id: int) -> None:
        """Back to ``queued`` (the agent went offline before the command reached it)."""
        self._update("UPDATE command_queue SET state = 'queued', request_id = NULL WHERE id = ?", (item_id,))

    def finish(self, item_id: int, result: dict[str, Any]) -> None:
        self._update(
            "UPDATE command_queue SET state = 'done', result = ?, finished_at = ? WHERE id = ?",
            (json.dumps(result, default=str), time.time(), item_id),
        )

    def _select(self, where: Where, order: str, limit: int) -> list[dict[str, Any]]:
        return self._store.select(
            f"SELECT {', '.join(_KEYS)}{_FROM}{where.sql}{order} LIMIT ?", [*where.args, limit], _KEYS,
            json_keys=("params", "result"),
        )  # fmt: skip
