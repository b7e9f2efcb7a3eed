"""Local authentication: API tokens kept in the LMS's SQLite, with roles, that work with no internet.

* A token is ``ctl_`` + 32 random bytes (URL-safe base64). Only its SHA-256 is stored (a token has 256 bits
  of entropy, so a slow password hash adds nothing); it is shown once, when created.
* Roles are ordered: ``viewer`` (read) < ``operator`` (commands, settings, tags, batches) < ``admin``
  (``exec``, token management, audit). A role grants everything below it.
* :meth:`Tokens.verify` is on every request's path: hits are cached in memory for :data:`CACHE_TTL_S`, so a
  token revoked through the API stops at once (the cache entry is dropped) and one revoked with the CLI (a
  different process) within :data:`CACHE_TTL_S`.
* Bootstrap (:meth:`Tokens.bootstrap`): when ``CLASSTOP_LMS_ADMIN_TOKEN`` is set, that token is made an admin
  token (added if missing, so a supervisor can always reach its LMS); else, when there is no token at all,
  one admin token is created and written to ``admin-token`` (mode 0600) next to the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from edge.lms.store import Store

log = logging.getLogger(__name__)

#: Schema version 2. Only a token's SHA-256 is stored.
API_TOKEN_TABLE_V2 = (
    """CREATE TABLE IF NOT EXISTS api_tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            created_by TEXT,
            last_used_at REAL,
            revoked_at REAL
        )""",
)

ADMIN_TOKEN_ENV = "CLASSTOP_LMS_ADMIN_TOKEN"
ADMIN_TOKEN_FILE = "admin-token"
TOKEN_PREFIX = "ctl_"
CACHE_TTL_S = 5.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@ -]{1,64}$")
MIN_TOKEN_LENGTH = 20
MAX_TOKEN_LENGTH = 256


class AuthError(Exception):
    """A token operation was refused (bad name or role, unknown token); the message says why."""


class UnknownToken(AuthError):
    """No token has this id."""


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise AuthError(f"unknown role {name!r} (viewer, operator or admin)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API token (its id and name) or a signed-in account (``kind="account"``: its id and user
    name), its role, and whether it may watch cameras (tokens: by role alone; accounts: their own permission)."""

    token_id: int
    name: str
    role: Role
    kind: str = "token"
    cameras: bool = True

    @property
    def actor(self) -> str:
        return f"user:{self.name}" if self.kind == "account" else f"{self.name}#{self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Tokens:
    """The token table as a service (create, verify, list, revoke, bootstrap)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[Principal, float]] = {}

    def create(
        self, name: str, role: Role | str, *, created_by: str | None = None, token: str | None = None
    ) -> tuple[int, str]:
        """Store a new token; returns ``(id, token)``. The token itself is never stored nor shown again."""
        if not NAME_PATTERN.match(name):
            raise AuthError("token name must be 1-64 characters of letters, digits, space, _ . @ -")
        role = role if isinstance(role, Role) else Role.parse(role)
        token = token or new_token()
        if not MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH:
            raise AuthError(f"a token must be {MIN_TOKEN_LENGTH}-{MAX_TOKEN_LENGTH} characters long")
        digest = hash_token(token)
        with self._store.transaction() as conn:
            if conn.execute("SELECT 1 FROM api_tokens WHERE token_hash = ?", (digest,)).fetchone():
                raise AuthError("this token already exists")
            cur = conn.execute(
                "INSERT INTO api_tokens (name, role, token_hash, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                (name, role.label, digest, time.time(), created_by),
            )
        return int(cur.lastrowid or 0), token

    def verify(self, token: str | None) -> Principal | None:
        """The token's principal, or ``None`` when missing, unknown or revoked."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        rows = self._store.query(
            "SELECT id, name, role, token_hash FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (digest,)
        )
        if not rows or not hmac.compare_digest(rows[0][3], digest):
            self._cache.pop(digest, None)
            return None
        principal = Principal(int(rows[0][0]), str(rows[0][1]), Role.parse(str(rows[0][2])))
        with self._lock:
            self._cache[digest] = (principal, now + CACHE_TTL_S)
        try:
            with self._store.transaction() as conn:
                conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (time.time(), principal.token_id))
        except Exception:  # last-used is informative only
            log.exception("auth: could not record the token's last use")
        return principal

    def list(self) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT id, name, role, created_at, created_by, last_used_at, revoked_at FROM api_tokens ORDER BY id"
        )
        keys = ("id", "name", "role", "created_at", "created_by", "last_used_at", "revoked_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def revoke(self, token_id: int) -> None:
        with self._store.transaction() as conn:
            row = conn.execute("SELECT token_hash, revoked_at FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            if row is None:
                raise UnknownToken(f"no token with id {token_id}")
            if row[1] is None:
                conn.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", (time.time(), token_id))
        with self._lock:
            self._cache.pop(str(row[0]), None)

    def rotate(self, token_id: int, *, created_by: str | None = None) -> tuple[int, str]:
        """A new token with the same name and role as active token ``token_id``, which stays valid (the grace
        period: switch every holder to the new one, then :meth:`revoke` the old). Returns ``(id, token)``."""
        rows = self._store.query("SELECT name, role, revoked_at FROM api_tokens WHERE id = ?", (token_id,))
        if not rows:
            raise UnknownToken(f"no token with id {token_id}")
        if rows[0][2] is not None:
            raise AuthError(f"token #{token_id} is revoked: create a new one instead")
        return self.create(str(rows[0][0]), str(rows[0][1]), created_by=created_by or f"rotation of #{token_id}")

    def count_active(self) -> int:
        return int(self._store.query("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")[0][0])

    def bootstrap(self, env: dict[str, str] | None = None) -> Path | None:
        """Make sure an admin can get in. Returns the file an admin token was written to, if any."""
        env = dict(os.environ) if env is None else env
        given = env.get(ADMIN_TOKEN_ENV, "").strip()
        if given:
            if len(given) < MIN_TOKEN_LENGTH:
                raise AuthError(f"{ADMIN_TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters long")
            digest = hash_token(given)
            rows = self._store.query("SELECT role, revoked_at FROM api_tokens WHERE token_hash = ?", (digest,))
            if not rows:
                self.create("bootstrap admin env", Role.ADMIN, created_by="bootstrap", token=given)
                log.info("auth: admin token from %s added", ADMIN_TOKEN_ENV)
            elif rows[0][0] != Role.ADMIN.label or rows[0][1] is not None:
                log.warning("auth: the token in %s is revoked or not an admin token; not restoring it", ADMIN_TOKEN_ENV)
            return None
        if self.count_active() > 0:
            return None
        path = self._store.path.parent / ADMIN_TOKEN_FILE
        _, token = self.create("bootstrap admin", Role.ADMIN, created_by="bootstrap")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (token + "\n").encode("ascii"))
        finally:
            os.close(fd)
        os.chmod(path, 0o600)
        log.warning("auth: no API token existed; created an admin token in %s (mode 0600)", path)
        return path
