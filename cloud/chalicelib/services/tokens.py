"""API tokens: issue (the secret is returned once; only its SHA-256 is stored), authenticate, list and revoke.

Every token expires (:data:`DEFAULT_TOKEN_TTL_S` unless its creator chooses, at most :data:`MAX_TOKEN_TTL_S`) and
has a random ``token_id`` by which it is listed and revoked. An expired or revoked token is refused from that
second on (authentication reads the item consistently and compares its expiry with the clock).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from chalicelib.domain.page import Page
from chalicelib.domain.token import (
    DEFAULT_TOKEN_TTL_S,
    MAX_TOKEN_TTL_S,
    MIN_TOKEN_TTL_S,
    ApiToken,
    IssuedToken,
    Principal,
    Role,
)
from chalicelib.errors import BadRequest, NotFound, Unauthorized
from chalicelib.repositories.token import TokenRepository
from chalicelib.services.pool_tokens import looks_like_jwt
from shared.topics import is_valid_id

if TYPE_CHECKING:
    from chalicelib.services.sign_in import PoolPrincipals

TOKEN_PREFIX = "ctk_"
_MAX_TOKEN_CHARS = 256


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token_id() -> str:
    return secrets.token_hex(8)


class TokenService:
    def __init__(self, tokens: TokenRepository, clock: Callable[[], float] = time.time,
                 new_id: Callable[[], str] = new_token_id, pool: PoolPrincipals | None = None) -> None:
        self._tokens = tokens
        #: the user pool's tokens (``None``: this stage has no pool; a JWT is then a 401)
        self._pool = pool
        self._clock = clock
        self._new_id = new_id

    def create(
        self,
        role: Role | str,
        name: str,
        *,
        site_ids: Iterable[str] | None = None,
        created_by: str | None = None,
        ttl_s: int | None = None,
    ) -> IssuedToken:
        """Issue a token. ``site_ids`` limits it to those sites (``None``: every site of the tenant); ``ttl_s`` is
        its lifetime (default :data:`DEFAULT_TOKEN_TTL_S`, at most :data:`MAX_TOKEN_TTL_S`)."""
        try:
            role = Role(role)
        except ValueError:
            raise BadRequest(f"role: must be one of {', '.join(r.value for r in Role)}") from None
        name = name.strip()
        if not name or len(name) > 128:
            raise BadRequest("name: 1-128 characters")
        scope: frozenset[str] | None = None
        if site_ids is not None:
            scope = frozenset(site_ids)
            if not scope:
                raise BadRequest("site_ids: give at least one site, or none for every site")
            bad = sorted(s for s in scope if not is_valid_id(s))
            if bad:
                raise BadRequest(f"site_ids: invalid site id(s) {', '.join(bad)}")
        lifetime = DEFAULT_TOKEN_TTL_S if ttl_s is None else ttl_s
        if not MIN_TOKEN_TTL_S <= lifetime <= MAX_TOKEN_TTL_S:
            raise BadRequest(f"ttl_s: between {MIN_TOKEN_TTL_S} and {MAX_TOKEN_TTL_S} seconds (365 days)")
        now = self._clock()
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            token_hash=hash_secret(secret),
            token_id=self._new_id(),
            name=name,
            role=role,
            site_ids=scope,
            created_at=now,
            expires_at=now + lifetime,
            created_by=created_by,
        )
        self._tokens.create(token)
        return IssuedToken(secret=secret, token=token)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an ``Authorization: Bearer <token>`` header: an API token (``ctk_…``) or an ID or access
        token of the tenant's user pool (a JWT: ``chalicelib.services.pool_tokens``); :class:`Unauthorized`
        otherwise."""
        if not authorization:
            raise Unauthorized("missing Authorization header (Bearer token)")
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        if looks_like_jwt(secret):
            if self._pool is None:
                raise Unauthorized("sign-in tokens are not accepted here: this stage has no user pool")
            return self._pool.principal(secret)
        if len(secret) > _MAX_TOKEN_CHARS:
            raise Unauthorized("unknown token")
        token = self._tokens.get(hash_secret(secret))
        if token is None:
            raise Unauthorized("unknown or revoked token")
        if token.expired(self._clock()):
            raise Unauthorized(f"token {token.token_id} expired: ask an administrator for a new one")
        return Principal(name=token.name, role=token.role, site_ids=token.site_ids)

    def page(self, *, limit: int = 100, cursor: str | None = None) -> Page[ApiToken]:
        """API tokens by id, expired ones too until DynamoDB's TTL removes them (never secrets or hashes: see
        :meth:`ApiToken.to_dict`)."""
        return self._tokens.page(limit=limit, cursor=cursor)

    def revoke(self, token_id: str) -> ApiToken:
        """Delete the token with this id: it is refused from now on. :class:`NotFound` for an unknown id."""
        token = self._tokens.find(token_id) if is_valid_id(token_id) else None
        if token is None:
            raise NotFound(f"unknown token {token_id[:80]}")
        self._tokens.delete(token.token_hash)
        return token
