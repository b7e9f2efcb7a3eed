"""Agent enrolment: site-wide enrolment tokens and the exchange of a token for per-agent broker credentials.

* An admin creates an enrolment token (``ttl_s``, ``max_uses``): ``cte_`` + 32 random bytes, shown once;
  only its SHA-256 is stored (256 bits of entropy: a slow hash adds nothing).
* An agent presents the token with its ``agent_id`` (or none: one is generated) and hostname and gets the
  broker address (with ``tls``: the broker's TLS listener, verified against the site CA the agent pinned
  before it sent the token) and a fresh password, issued through
  :class:`edge.lms.enrolment.broker_credentials.BrokerCredentials`.
  Enrolling an agent id again (a valid token is needed) rotates its password: the old one stops working at
  once. Whoever holds a valid token can therefore take over an agent id — keep tokens short-lived and
  few-use, and revoke one's credentials from the API.
* A use of the token is reserved before the broker is asked and given back if the broker fails, so a
  failure leaves neither a used-up token nor an enrolment row behind.
* Revocation deletes the agent's broker client; the broker disconnects it at once but publishes no Last Will
  (the plugin no longer knows the client), so ``on_revoked`` lets the LMS publish the agent's retained
  offline status itself.

The two tables are created here (``CREATE TABLE IF NOT EXISTS``), next to the store's own schema.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.lms.enrolment.broker_credentials import BrokerCredentials, CredentialsError
from edge.lms.store import Store

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cte_"
MAX_TOKEN_LENGTH = 256
GENERATED_ID_PREFIX = "pc-"

SCHEMA = (
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


class EnrollmentError(Exception):
    """An enrolment request was refused. ``status`` is the HTTP status that fits; the message says why."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = True


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str
    id: int
    expires_at: float
    max_uses: int


@dataclass(frozen=True, slots=True)
class Enrolment:
    agent_id: str
    username: str
    password: str
    broker: BrokerAddress
    rotated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "rotated": self.rotated,
            "mqtt": {
                "host": self.broker.host,
                "port": self.broker.port,
                "username": self.username,
                "password": self.password,
                "tls": self.broker.tls,
            },
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _from_credentials(exc: CredentialsError) -> EnrollmentError:
    if exc.kind == "invalid":
        return EnrollmentError(exc.message, status=422)
    if exc.kind == "unavailable":
        return EnrollmentError(f"the site broker is unavailable: {exc.message}", status=503)
    return EnrollmentError(f"the site broker refused: {exc.message}", status=502)


class Enrollment:
    """Enrolment tokens and enrolments in the LMS's SQLite; credentials through :class:`BrokerCredentials`."""

    def __init__(
        self,
        store: Store,
        credentials: BrokerCredentials,
        broker: BrokerAddress,
        *,
        clock: Callable[[], float] = time.time,
        on_revoked: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_revoked = on_revoked
        self._store = store
        self._credentials = credentials
        self._broker = broker
        with store.transaction() as conn:
            for statement in SCHEMA:
                conn.execute(statement)

    # ------------------------------------------------------------ tokens

    def create_token(
        self, *, ttl_s: float, max_uses: int, note: str | None = None, created_by: str | None = None
    ) -> NewToken:
        if not 0 < ttl_s <= 365 * 86400:
            raise EnrollmentError("ttl_s must be in (0, 31536000]", status=422)
        if not 1 <= max_uses <= 100_000:
            raise EnrollmentError("max_uses must be in [1, 100000]", status=422)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO enrollment_tokens (token_hash, note, created_at, created_by, expires_at, max_uses) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (hash_token(token), note, now, created_by, now + ttl_s, max_uses),
            )
            token_id = int(cur.lastrowid or 0)
        log.info("enrolment token %d created (ttl %g s, %d uses) by %s", token_id, ttl_s, max_uses, created_by)
        return NewToken(token, token_id, now + ttl_s, max_uses)

    def tokens(self) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT id, note, created_at, created_by, expires_at, max_uses, uses FROM enrollment_tokens ORDER BY id"
        )
        keys = ("id", "note", "created_at", "created_by", "expires_at", "max_uses", "uses")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def _reserve_use(self, token: str) -> int:
        """Check the token and count one use (in one transaction). Returns the token's id."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            raise EnrollmentError("invalid enrolment token", status=401)
        digest = hash_token(token)
        now = self._clock()
        with self._store.transaction() as conn:
            row = conn.execute(
                "SELECT id, token_hash, expires_at, max_uses, uses FROM enrollment_tokens WHERE token_hash = ?",
                (digest,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[1], digest):
                raise EnrollmentError("invalid enrolment token", status=401)
            token_id, _h, expires_at, max_uses, uses = row
            if expires_at <= now:
                raise EnrollmentError(f"enrolment token {token_id} has expired", status=403)
            if uses >= max_uses:
                raise EnrollmentError(f"enrolment token {token_id} is used up ({max_uses} uses)", status=403)
            conn.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?", (token_id,))
        return int(token_id)

    def _give_back(self, token_id: int) -> None:
        with self._store.transaction() as conn:
            conn.execute("UPDATE enrollment_tokens SET uses = MAX(uses - 1, 0) WHERE id = ?", (token_id,))

    # ------------------------------------------------------------ enrolment

    def enroll(self, token: str, *, agent_id: str | None, hostname: str) -> Enrolment:
        """Exchange a valid token for broker credentials. Raises :class:`EnrollmentError`."""
        if agent_id is not None:
            try:
                self._credentials.check_agent_id(agent_id)
            except CredentialsError as exc:
                raise _from_credentials(exc) from None
            self._refuse_classtop_client(agent_id)
        token_id = self._reserve_use(token)
        new_id = agent_id or f"{GENERATED_ID_PREFIX}{secrets.token_hex(6)}"
        try:
            password = self._credentials.issue(new_id)
        except CredentialsError as exc:
            self._give_back(token_id)
            raise _from_credentials(exc) from None
        except BaseException:
            self._give_back(token_id)
            raise
        now = self._clock()
        with self._store.transaction() as conn:
            existing = conn.execute(
                "SELECT revoked_at FROM enrollments WHERE agent_id = ?", (new_id,)
            ).fetchone()
            conn.execute(
                "INSERT INTO enrollments (agent_id, hostname, token_id, enrolled_at, rotated_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT(agent_id) DO UPDATE SET hostname = excluded.hostname, "
                "token_id = excluded.token_id, rotated_at = excluded.rotated_at, revoked_at = NULL",
                (new_id, hostname, token_id, now, now),
            )
        rotated = existing is not None
        log.info("agent %s (%s) %s with token %d", new_id, hostname, "re-enrolled" if rotated else "enrolled", token_id)
        return Enrolment(new_id, new_id, password, self._broker, rotated)

    def _refuse_classtop_client(self, agent_id: str) -> None:
        """409 for the uuid of an approved ClassTop client of this site: an agent under that id would be taken for
        the client and its MQTT traffic dropped. A client still pending (anyone on the LAN can ask) does not block
        the enrolment, which an admin's token authorises; that client can no longer be approved (admission)."""
        known = self._store.query(
            "SELECT 1 FROM clients WHERE uuid = ? AND kind = 'legacy' UNION ALL "
            "SELECT 1 FROM classtop_admissions WHERE client_uuid = ? AND approval = 'approved' LIMIT 1",
            (agent_id, agent_id))
        if known:
            raise EnrollmentError(f"agent id {agent_id!r} is the uuid of a ClassTop client of this site: enrol the "
                                  "agent under another id", status=409)

    def revoke(self, agent_id: str) -> None:
        """Delete the agent's broker credentials (it is disconnected at once). 404 if it never had any."""
        try:
            existed = self._credentials.revoke(agent_id)
        except CredentialsError as exc:
            raise _from_credentials(exc) from None
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE enrollments SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL",
                (self._clock(), agent_id),
            )
            known = cur.rowcount > 0
        if not (existed or known):
            raise EnrollmentError(f"agent {agent_id!r} has no broker credentials", status=404)
        log.info("agent %s: broker credentials revoked", agent_id)
        if self._on_revoked is not None:
            try:
                self._on_revoked(agent_id)
            except Exception:
                log.exception("agent %s: revoked, but the revocation hook failed", agent_id)

    def enrollments(self) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT agent_id, hostname, token_id, enrolled_at, rotated_at, revoked_at FROM enrollments "
            "ORDER BY agent_id"
        )
        keys = ("agent_id", "hostname", "token_id", "enrolled_at", "rotated_at", "revoked_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]
