"""API tokens: ``TokenModel`` items <-> :class:`ApiToken`, keyed by the SHA-256 of the secret; listed and found by
id through the ``by_kind`` index."""

from __future__ import annotations

from chalicelib.domain.page import Page
from chalicelib.domain.token import ApiToken, Role, SecretKind, StoredSecret
from chalicelib.errors import StaleWrite
from chalicelib.models.token import TokenModel
from chalicelib.repositories.base import create_item, dynamo_errors, expiry, read_item, read_page

_KIND_KEYS = frozenset({"token_hash", "kind", "token_id"})


class TokenRepository:
    def get(self, token_hash: str) -> ApiToken | None:
        """The API token of this hash (``None`` for a site key, an enrolment token, or an API token made before
        tokens had ids and expiry dates: those are refused)."""
        item = read_item(TokenModel, token_hash, what="read token", consistent=True)  # a revoked token stops at once
        return None if item is None else _to_token(item)

    def page(self, *, limit: int = 100, cursor: str | None = None) -> Page[ApiToken]:
        """One page of API tokens, ordered by id (a Query of the ``by_kind`` index)."""
        return read_page(lambda start: TokenModel.by_kind.query(SecretKind.API.value, limit=limit,
                                                                last_evaluated_key=start),
                         _KIND_KEYS, limit=limit, cursor=cursor, convert=_to_token, what="list tokens")

    def find(self, token_id: str) -> ApiToken | None:
        """The API token with this id (the index is eventually consistent: a token made a moment ago may not be
        found yet)."""
        with dynamo_errors("find token"):
            for item in TokenModel.by_kind.query(SecretKind.API.value, TokenModel.token_id == token_id, limit=1):
                return _to_token(item)
        return None

    def create(self, token: ApiToken) -> None:
        item = TokenModel(
            token.token_hash,
            name=token.name,
            role=token.role.value,
            kind=SecretKind.API.value,
            token_id=token.token_id,
            site_ids=set(token.site_ids) if token.site_ids else None,
            created_at=token.created_at,
            created_by=token.created_by,
            ttl=expiry(token.expires_at),
        )
        create_item(item, TokenModel.token_hash, what="create token",
                    conflict="a token with this secret already exists")

    def delete(self, token_hash: str) -> None:
        with dynamo_errors("delete token"):
            TokenModel(token_hash).delete()

    def create_secret(self, secret: StoredSecret) -> None:
        item = TokenModel(
            secret.token_hash,
            name=secret.name,
            role="none",
            kind=secret.kind.value,
            site_id=secret.site_id,
            created_at=secret.created_at,
            created_by=secret.created_by,
            ttl=None if secret.expires_at is None else expiry(secret.expires_at),
        )
        create_item(item, TokenModel.token_hash, what="create secret",
                    conflict="a secret with this value already exists")

    def get_secret(self, token_hash: str, kind: SecretKind) -> StoredSecret | None:
        """The stored secret of ``kind`` (``None`` when absent or of another kind)."""
        item = read_item(TokenModel, token_hash, what="read secret", consistent=True)
        if item is None or item.kind != kind.value:
            return None
        return StoredSecret(
            token_hash=item.token_hash,
            kind=kind,
            name=item.name,
            site_id=item.site_id,
            created_at=float(item.created_at),
            expires_at=None if item.ttl is None else item.ttl.timestamp(),
            created_by=item.created_by,
        )

    def consume(self, token_hash: str) -> bool:
        """Delete a one-time secret; ``False`` if it was already gone (used by a concurrent call)."""
        try:
            with dynamo_errors("consume secret"):
                TokenModel(token_hash).delete(condition=TokenModel.token_hash.exists())
        except StaleWrite:
            return False
        return True


def _to_token(item: TokenModel) -> ApiToken | None:
    if item.kind != SecretKind.API.value or item.token_id is None or item.ttl is None:
        return None  # another kind of secret, or an API token from before ids and expiry (refused)
    return ApiToken(
        token_hash=item.token_hash,
        token_id=item.token_id,
        name=item.name,
        role=Role(item.role),
        site_ids=frozenset(item.site_ids) if item.site_ids else None,
        created_at=float(item.created_at),
        expires_at=item.ttl.timestamp(),
        created_by=item.created_by,
    )
