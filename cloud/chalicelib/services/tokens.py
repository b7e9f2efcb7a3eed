"""API tokens: issue (the secret is returned once; only its SHA-256 is stored) and authenticate."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable

from chalicelib.domain.token import ApiToken, IssuedToken, Principal, Role
from chalicelib.errors import BadRequest, Unauthorized
from chalicelib.repositories.token import TokenRepository
from shared.topics import is_valid_id

TOKEN_PREFIX = "ctk_"
_MAX_TOKEN_CHARS = 256


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(self, tokens: TokenRepository, clock: Callable[[], float] = time.time) -> None:
        self._tokens = tokens
        self._clock = clock

    def create(
        self,
        role: Role | str,
        name: str,
        *,
        site_ids: Iterable[str] | None = None,
        created_by: str | None = None,
    ) -> IssuedToken:
        """Issue a token. ``site_ids`` limits it to those sites (``None``: every site of the tenant)."""
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
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(
            token_hash=hash_secret(secret),
            name=name,
            role=role,
            site_ids=scope,
            created_at=self._clock(),
            created_by=created_by,
        )
        self._tokens.create(token)
        return IssuedToken(secret=secret, token=token)

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an ``Authorization: Bearer <token>`` header; :class:`Unauthorized` otherwise."""
        if not authorization:
            raise Unauthorized("missing Authorization header (Bearer token)")
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        if len(secret) > _MAX_TOKEN_CHARS:
            raise Unauthorized("unknown token")
        token = self._tokens.get(hash_secret(secret))
        if token is None:
            raise Unauthorized("unknown token")
        return Principal(name=token.name, role=token.role, site_ids=token.site_ids)

    def revoke(self, secret: str) -> None:
        self._tokens.delete(hash_secret(secret))
