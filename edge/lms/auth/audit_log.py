"""The local audit log (table ``audit_log``): who did what to which target, with what result, and when.

Rows are written synchronously (durable when the call returns). A command is recorded before it is sent
(``result`` = ``pending``) and completed with its outcome, so a crash in between still leaves a trace.
"""

from __future__ import annotations

import json
import time
from typing import Any

from edge.lms.store import Store, Where

#: Schema version 2.
AUDIT_LOG_TABLE_V2 = (
    """CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            role TEXT,
            action TEXT NOT NULL,
            target TEXT,
            result TEXT,
            detail TEXT
        )""",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
)

_KEYS = ("id", "at", "actor", "role", "action", "target", "result", "detail")
MAX_DETAIL_CHARS = 4096


class Audit:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(
        self,
        actor: str,
        role: str | None,
        action: str,
        target: str | None = None,
        result: str | None = None,
        detail: Any = None,
    ) -> int:
        text = None if detail is None else json.dumps(detail, default=str, separators=(",", ":"))[:MAX_DETAIL_CHARS]
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO audit_log (at, actor, role, action, target, result, detail) VALUES (?,?,?,?,?,?,?)",
                (time.time(), actor, role, action, target, result, text),
            )
        return int(cur.lastrowid or 0)

    def complete(self, row_id: int, result: str) -> None:
        with self._store.transaction() as conn:
            conn.execute("UPDATE audit_log SET result = ? WHERE id = ?", (result, row_id))

    def recent(
        self, *, limit: int = 100, actor: str | None = None, action: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        where = Where().equal("actor", actor).equal("action", action).at_least("at", since)
        return self._store.select(
            f"SELECT {', '.join(_KEYS)} FROM audit_log{where.sql} ORDER BY id DESC LIMIT ?", [*where.args, limit],
            _KEYS, json_keys=("detail",),
        )  # fmt: skip
