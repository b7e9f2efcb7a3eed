"""The enrolment tables: agent enrolment tokens (``enrollment_tokens``, only their SHA-256) and the agents that
enrolled (``enrollments``). The tables keep the names they had before enrolment became a numbered migration."""

from __future__ import annotations

from typing import Any

from edge.lms.store import Store

#: Schema version 9. An LMS that had enrolment on before already has both tables (they were created outside the
#: versioned migrations then): ``IF NOT EXISTS`` keeps them and their rows.
ENROLMENT_TABLES_V9 = (
    """CREATE TABLE IF NOT EXISTS enrollment_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash TEXT NOT NULL UNIQUE,
        note TEXT,
        created_at REAL NOT NULL,
        created_by TEXT,
        expires_at REAL NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS enrollments (
        agent_id TEXT PRIMARY KEY,
        hostname TEXT,
        token_id INTEGER,
        enrolled_at REAL NOT NULL,
        rotated_at REAL NOT NULL,
        revoked_at REAL
    )""",
)

_TOKEN_KEYS = ("id", "note", "created_at", "created_by", "expires_at", "max_uses", "uses")
_ENROLMENT_KEYS = ("agent_id", "hostname", "token_id", "enrolled_at", "rotated_at", "revoked_at")


class TokenRefused(Exception):
    """The token is unknown, expired or used up (``reason``: ``unknown``, ``expired``, ``used_up``)."""

    def __init__(self, reason: str, token_id: int | None = None, max_uses: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_id = token_id
        self.max_uses = max_uses


class EnrolmentRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------ tokens

    def add_token(self, token_hash: str, *, note: str | None, created_at: float, created_by: str | None,
                  expires_at: float, max_uses: int) -> int:  # fmt: skip
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO enrollment_tokens (token_hash, note, created_at, created_by, expires_at, max_uses) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_hash, note, created_at, created_by, expires_at, max_uses),
            )
            return int(cur.lastrowid or 0)

    def tokens(self) -> list[dict[str, Any]]:
        """The tokens' metadata (never their hashes), oldest first."""
        return self._store.select(f"SELECT {', '.join(_TOKEN_KEYS)} FROM enrollment_tokens ORDER BY id", (),
                                  _TOKEN_KEYS)  # fmt: skip

    def use_token(self, token_hash: str, now: float) -> int:
        """Count one use of the token with this hash (in one transaction); its id. Raises :class:`TokenRefused`."""
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT id, expires_at, max_uses, uses FROM enrollment_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            if row is None:
                raise TokenRefused("unknown")
            token_id, expires_at, max_uses, uses = row
            if expires_at <= now:
                raise TokenRefused("expired", int(token_id))
            if uses >= max_uses:
                raise TokenRefused("used_up", int(token_id), int(max_uses))
            conn.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?", (token_id,))
        return int(token_id)

    def token_created_at(self, token_id: int) -> float | None:
        rows = self._store.query("SELECT created_at FROM enrollment_tokens WHERE id = ?", (token_id,))
        return float(rows[0][0]) if rows else None

    def give_back(self, token_id: int) -> None:
        """Undo one use (the broker failed after the use was counted)."""
        with self._store.transaction() as conn:
            conn.execute("UPDATE enrollment_tokens SET uses = MAX(uses - 1, 0) WHERE id = ?", (token_id,))

    # ------------------------------------------------------------ enrolments

    def record(self, agent_id: str, hostname: str, token_id: int, now: float) -> bool:
        """The agent enrolled (again: its row is updated and un-revoked). Returns whether it had enrolled before."""
        with self._store.transaction() as conn:
            existing = conn.execute("SELECT 1 FROM enrollments WHERE agent_id = ?", (agent_id,)).fetchone()
            conn.execute(
                "INSERT INTO enrollments (agent_id, hostname, token_id, enrolled_at, rotated_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT(agent_id) DO UPDATE SET hostname = excluded.hostname, "
                "token_id = excluded.token_id, rotated_at = excluded.rotated_at, revoked_at = NULL",
                (agent_id, hostname, token_id, now, now),
            )
        return existing is not None

    def revoke(self, agent_id: str, now: float) -> bool:
        """Mark the agent's enrolment revoked; False when it had none (or it was revoked already)."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE enrollments SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL", (now, agent_id)
            )
            return cur.rowcount > 0

    def enrolments(self) -> list[dict[str, Any]]:
        return self._store.select(f"SELECT {', '.join(_ENROLMENT_KEYS)} FROM enrollments ORDER BY agent_id", (),
                                  _ENROLMENT_KEYS)  # fmt: skip

    def is_enrolled(self, agent_id: str) -> bool:
        """Whether an agent ever enrolled under this id (revoked or not): never a ClassTop client's id."""
        return bool(self._store.query("SELECT 1 FROM enrollments WHERE agent_id = ?", (agent_id,)))
