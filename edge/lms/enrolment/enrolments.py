"""Agent enrolment: site-wide agent enrolment tokens and the exchange of a token for per-agent broker credentials.

* An admin creates an agent enrolment token (``ttl_s``, ``max_uses``): ``cta_`` + 32 random bytes, shown once;
  only its SHA-256 is stored (256 bits of entropy: a slow hash adds nothing). Tokens are found by their hash, so
  the ``cte_`` tokens an LMS made before agent tokens got their own prefix keep working until they expire (the
  cloud's site enrolment tokens keep ``cte_``).
* An agent presents the token with its ``agent_id`` (or none: one is generated) and hostname and gets the
  broker address (with ``tls``: the broker's TLS listener, verified against the site CA the agent pinned
  before it sent the token) and a fresh password, issued through
  :class:`edge.lms.enrolment.broker_credentials.BrokerCredentials`.
  Enrolling an agent id again (a valid token is needed) rotates its password: the old one stops working at
  once. Whoever holds a valid token can therefore take over an agent id — keep tokens short-lived and
  few-use, and revoke one's credentials from the API.
* The id of one of the site's ClassTop clients is refused (409): an agent under that id would be taken for the
  client and its MQTT traffic dropped.
* A use of the token is reserved before the broker is asked and given back if the broker fails, so a
  failure leaves neither a used-up token nor an enrolment row behind.
* A retired agent id (:mod:`edge.lms.agents.retirement`) enrols again only with an enrolment token made after
  its retirement (403 otherwise, the token's use given back): the token a retired PC still holds, or one an
  attacker kept, does not bring it back. ``on_enrolled`` tells the registry to take its messages again.
* Revocation deletes the agent's broker client; the broker disconnects it at once but publishes no Last Will
  (the plugin no longer knows the client), so ``on_revoked`` lets the LMS publish the agent's retained
  offline status itself.

The tables are :mod:`edge.lms.enrolment.enrolment_rows`.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.lms.agents.retired_rows import RetiredRows
from edge.lms.enrolment.broker_credentials import BrokerCredentials, CredentialsError
from edge.lms.enrolment.enrolment_rows import EnrolmentRows, TokenRefused
from edge.lms.errors import LmsError
from edge.lms.store import Store

log = logging.getLogger(__name__)

#: Agent enrolment tokens made by this LMS.
TOKEN_PREFIX = "cta_"
#: Agent enrolment tokens made before they had their own prefix (the one of the cloud's site enrolment tokens).
OLD_TOKEN_PREFIX = "cte_"
MAX_TOKEN_LENGTH = 256
GENERATED_ID_PREFIX = "pc-"


class EnrolmentError(LmsError):
    """An enrolment request was refused."""


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
    """One agent's enrolment: its broker credentials and where to use them."""

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


def _from_credentials(exc: CredentialsError) -> EnrolmentError:
    if exc.kind == "invalid":
        return EnrolmentError(exc.message, status=422)
    if exc.kind == "unavailable":
        return EnrolmentError(f"the site broker is unavailable: {exc.message}", status=503)
    return EnrolmentError(f"the site broker refused: {exc.message}", status=502)


class Enrolments:
    """Agent enrolment tokens and enrolments in the LMS's SQLite; credentials through :class:`BrokerCredentials`.

    ``is_classtop_client(id)`` says whether an id is one of the site's ClassTop clients (those ids are refused).
    """

    def __init__(
        self,
        store: Store,
        credentials: BrokerCredentials,
        broker: BrokerAddress,
        *,
        is_classtop_client: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
        on_revoked: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_revoked = on_revoked
        self._rows = EnrolmentRows(store)
        self._retired = RetiredRows(store)
        #: called with an agent id after every successful enrolment (the registry's ``reinstate``)
        self.on_enrolled: Callable[[str], None] | None = None
        self._credentials = credentials
        self._broker = broker
        self._is_classtop_client = is_classtop_client

    # ------------------------------------------------------------ tokens

    def create_token(
        self, *, ttl_s: float, max_uses: int, note: str | None = None, created_by: str | None = None
    ) -> NewToken:
        if not 0 < ttl_s <= 365 * 86400:
            raise EnrolmentError("ttl_s must be in (0, 31536000]", status=422)
        if not 1 <= max_uses <= 100_000:
            raise EnrolmentError("max_uses must be in [1, 100000]", status=422)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        token_id = self._rows.add_token(hash_token(token), note=note, created_at=now, created_by=created_by,
                                        expires_at=now + ttl_s, max_uses=max_uses)  # fmt: skip
        log.info("enrolment token %d created (ttl %g s, %d uses) by %s", token_id, ttl_s, max_uses, created_by)
        return NewToken(token, token_id, now + ttl_s, max_uses)

    def tokens(self) -> list[dict[str, Any]]:
        return self._rows.tokens()

    def _reserve_use(self, token: str) -> int:
        """Check the token and count one use (in one transaction). Returns the token's id."""
        if not token.startswith((TOKEN_PREFIX, OLD_TOKEN_PREFIX)) or len(token) > MAX_TOKEN_LENGTH:
            raise EnrolmentError("invalid enrolment token", status=401)
        try:
            return self._rows.use_token(hash_token(token), self._clock())
        except TokenRefused as refused:
            if refused.reason == "expired":
                raise EnrolmentError(f"enrolment token {refused.token_id} has expired", status=403) from None
            if refused.reason == "used_up":
                raise EnrolmentError(f"enrolment token {refused.token_id} is used up ({refused.max_uses} uses)",
                                     status=403) from None  # fmt: skip
            raise EnrolmentError("invalid enrolment token", status=401) from None

    # ------------------------------------------------------------ enrolment

    def enrol(self, token: str, *, agent_id: str | None, hostname: str) -> Enrolment:
        """Exchange a valid token for broker credentials. Raises :class:`EnrolmentError`."""
        if agent_id is not None:
            try:
                self._credentials.check_agent_id(agent_id)
            except CredentialsError as exc:
                raise _from_credentials(exc) from None
            if self._is_classtop_client(agent_id):
                raise EnrolmentError(f"agent id {agent_id!r} is the uuid of a ClassTop client of this site: enrol "
                                     "the agent under another id", status=409)  # fmt: skip
        token_id = self._reserve_use(token)
        if agent_id is not None:
            self._refuse_stale_token(agent_id, token_id)
        new_id = agent_id or f"{GENERATED_ID_PREFIX}{secrets.token_hex(6)}"
        try:
            password = self._credentials.issue(new_id)
        except CredentialsError as exc:
            self._rows.give_back(token_id)
            raise _from_credentials(exc) from None
        except BaseException:
            self._rows.give_back(token_id)
            raise
        now = self._clock()
        rotated = self._rows.record(new_id, hostname, token_id, now)
        if self._retired.reenrolled(new_id, now):
            log.info("agent %s: retired before, enrolled again with token %d", new_id, token_id)
        if self.on_enrolled is not None:
            self.on_enrolled(new_id)
        log.info("agent %s (%s) %s with token %d", new_id, hostname, "re-enrolled" if rotated else "enrolled", token_id)
        return Enrolment(new_id, new_id, password, self._broker, rotated)

    def _refuse_stale_token(self, agent_id: str, token_id: int) -> None:
        """A retired agent id needs a token made after its retirement (the use is given back when refused)."""
        retired_at = self._retired.retired_at(agent_id)
        if retired_at is None:
            return
        created_at = self._rows.token_created_at(token_id)
        if created_at is None or created_at <= retired_at:
            self._rows.give_back(token_id)
            raise EnrolmentError(f"agent {agent_id!r} was retired: enrol it again with an enrolment token made "
                                 "after its retirement", status=403)  # fmt: skip

    def revoke(self, agent_id: str) -> None:
        """Delete the agent's broker credentials (it is disconnected at once). 404 if it never had any."""
        try:
            existed = self._credentials.revoke(agent_id)
        except CredentialsError as exc:
            raise _from_credentials(exc) from None
        known = self._rows.revoke(agent_id, self._clock())
        if not (existed or known):
            raise EnrolmentError(f"agent {agent_id!r} has no broker credentials", status=404)
        log.info("agent %s: broker credentials revoked", agent_id)
        if self._on_revoked is not None:
            try:
                self._on_revoked(agent_id)
            except Exception:
                log.exception("agent %s: revoked, but the revocation hook failed", agent_id)

    def enrolments(self) -> list[dict[str, Any]]:
        return self._rows.enrolments()
