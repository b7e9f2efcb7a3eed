"""The local audit log: who did what to which target, with what result, and when.

Rows are written synchronously (durable when the call returns). A command is recorded before it is sent
(``result`` = ``pending``) and completed with its outcome, so a crash in between still leaves a trace.
"""

from __future__ import annotations

import json
import time
from typing import Any

from edge.lms.store import Store, json_or_none

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

    def cctv_event(self, agent_id: str, event_type: str, camera_id: str | None, details: Any) -> None:
        """A row of the seed's ``cctv_logs`` (camera changes and recording/streaming control)."""
        text = json.dumps(details, default=str, separators=(",", ":"))[:MAX_DETAIL_CHARS]
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO cctv_logs (client_uuid, event_type, camera_id, details, created_at) VALUES (?,?,?,?,?)",
                (agent_id, event_type, camera_id, text, time.time()),
            )

    def complete(self, row_id: int, result: str) -> None:
        with self._store.transaction() as conn:
            conn.execute("UPDATE audit_log SET result = ? WHERE id = ?", (result, row_id))

    def recent(
        self, *, limit: int = 100, actor: str | None = None, action: str | None = None, since: float | None = None
    ) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(_KEYS)} FROM audit_log WHERE 1=1"
        args: list[Any] = []
        for column, value in (("actor", actor), ("action", action)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        if since is not None:
            sql += " AND at >= ?"
            args.append(since)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        out = []
        for r in self._store.query(sql, args):
            row = dict(zip(_KEYS, r, strict=True))
            row["detail"] = json_or_none(row["detail"])
            out.append(row)
        return out
