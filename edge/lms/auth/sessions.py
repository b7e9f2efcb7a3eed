"""Signed-in console sessions (table ``sessions``): what the ``ct_session`` cookie stands for.

* A session token is 32 random bytes (URL-safe base64); only its SHA-256 is stored. It travels only in an
  HTTP-only, ``SameSite=Strict`` cookie (``Secure`` over HTTPS, which is every address but loopback).
* Each session has its own CSRF token, given to the page when it signs in (and by ``GET /api/session``); a
  request authenticated by the cookie that changes anything must repeat it in ``X-CSRF-Token``.
* A session ends on sign-out, after :data:`IDLE_S` without a request, after :data:`MAX_AGE_S` whatever happens (both
  set in ``[console]``), and
  when its account is disabled, loses a role or the camera permission, or has its password changed elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from edge.lms.auth.accounts import Account, account_from_row
from edge.lms.store import Store

COOKIE: Final = "ct_session"
CSRF_HEADER: Final = "X-CSRF-Token"
IDLE_S: Final = 8 * 3600.0
MAX_AGE_S: Final = 24 * 3600.0
#: how stale ``last_seen_at`` may get before a request writes it again (saves a write per request)
_TOUCH_S: Final = 60.0
MAX_TOKEN_LENGTH: Final = 128


@dataclass(frozen=True, slots=True)
class Session:
    id: int
    account: Account
    csrf_token: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Sessions:
    def __init__(
        self, store: Store, *, clock: Callable[[], float] = time.time, idle_s: float = IDLE_S,
        max_age_s: float = MAX_AGE_S,
    ) -> None:  # fmt: skip
        self._store = store
        self._clock = clock
        self.idle_s = idle_s
        self.max_age_s = max_age_s

    def open(self, account: Account, *, client: str | None = None) -> tuple[str, Session]:
        """A new session for ``account``: returns the cookie's token (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = self._clock()
        expires = now + self.max_age_s
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?", (now, now - self.idle_s))
            cur = conn.execute(
                "INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, last_seen_at, expires_at, "
                "client) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_digest(token), account.id, csrf, now, now, expires, (client or "")[:64]),
            )
        return token, Session(int(cur.lastrowid or 0), account, csrf, expires)

    def verify(self, token: str | None) -> Session | None:
        """The live session of a cookie's ``token`` (its account enabled), else ``None``."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = _digest(token)
        rows = self._store.query(
            "SELECT s.id, s.token_hash, s.csrf_token, s.last_seen_at, s.expires_at, "
            "a.id, a.username, a.role, a.must_change, a.cameras, a.disabled_at "
            "FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = ?",
            (digest,),
        )
        if not rows or not hmac.compare_digest(str(rows[0][1]), digest):
            return None
        row = rows[0]
        now = self._clock()
        account = account_from_row(row[5:])
        if account.disabled or row[4] < now or row[3] < now - self.idle_s:
            self.close(int(row[0]))
            return None
        if row[3] < now - _TOUCH_S:
            with self._store.transaction() as conn:
                conn.execute("UPDATE sessions SET last_seen_at = ? WHERE id = ?", (now, row[0]))
        return Session(int(row[0]), account, str(row[2]), float(row[4]))

    @staticmethod
    def csrf_matches(session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(session.csrf_token.encode(), given.encode()[:256])

    def close(self, session_id: int) -> None:
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def count(self, account_id: int) -> int:
        return int(self._store.query("SELECT COUNT(*) FROM sessions WHERE account_id = ?", (account_id,))[0][0])
