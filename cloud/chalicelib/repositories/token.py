"""API tokens: ``TokenModel`` items <-> :class:`ApiToken`, keyed by the SHA-256 of the secret."""

from __future__ import annotations

from chalicelib.domain.token import ApiToken, Role
from chalicelib.errors import Conflict, StaleWrite
from chalicelib.models.token import TokenModel
from chalicelib.repositories.dynamo import dynamo_errors


class TokenRepository:
    def get(self, token_hash: str) -> ApiToken | None:
        with dynamo_errors("read token"):
            try:
                item = TokenModel.get(token_hash, consistent_read=True)  # a revoked token stops at once
            except TokenModel.DoesNotExist:
                return None
        return ApiToken(
            token_hash=item.token_hash,
            name=item.name,
            role=Role(item.role),
            site_ids=frozenset(item.site_ids) if item.site_ids else None,
            created_at=float(item.created_at),
            created_by=item.created_by,
        )

    def create(self, token: ApiToken) -> None:
        item = TokenModel(
            token.token_hash,
            name=token.name,
            role=token.role.value,
            site_ids=set(token.site_ids) if token.site_ids else None,
            created_at=token.created_at,
            created_by=token.created_by,
        )
        try:
            with dynamo_errors("create token"):
                item.save(condition=TokenModel.token_hash.does_not_exist())
        except StaleWrite:
            raise Conflict("a token with this secret already exists") from None

    def delete(self, token_hash: str) -> None:
        with dynamo_errors("delete token"):
            TokenModel(token_hash).delete()
