"""API tokens for people and scripts (admin, tenant-wide: a token scoped to sites gets 403):
``GET /api/tokens?limit=&cursor=`` (never secrets or hashes), ``POST /api/tokens`` (the secret is shown once),
``DELETE /api/tokens/{token_id}`` (refused from that second on). Creating and revoking are audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_int, query_str
from chalicelib.api.params import CURSOR, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.token import ApiToken

if TYPE_CHECKING:
    from chalicelib.api.bodies.tokens import CreateTokenBody

api = Router(__name__, tag="tokens")


@api.route("GET", "/api/tokens", Access.ADMIN, Scope.TENANT, "List API tokens (never their secrets)",
           query=(limit(100), CURSOR))
def list_tokens(call: Call[None]) -> Response:
    page = container.get().tokens.page(limit=query_int(call.request, "limit", 100),
                                       cursor=query_str(call.request, "cursor"))
    return ok(page.to_dict("tokens", ApiToken.to_dict))


@api.route("POST", "/api/tokens", Access.ADMIN, Scope.TENANT,
           "Create an API token (the secret is shown once; it expires)", body="CreateTokenBody",
           responses={"201": "created (the token is shown once)"}, audit="token.create",
           links=(Link("201", "DELETE", "/api/tokens/{token_id}", {"token_id": "$response.body#/data/token_id"}),))
def create_token(call: Call[CreateTokenBody]) -> Response:
    body = call.body
    issued = container.get().tokens.create(body.role, body.name, site_ids=body.site_ids, ttl_s=body.ttl_s,
                                           created_by=call.principal.name)
    return ok({"token": issued.secret, **issued.token.to_dict()}, 201)


@api.route("DELETE", "/api/tokens/{token_id}", Access.ADMIN, Scope.TENANT, "Revoke an API token by its id",
           audit="token.revoke")
def revoke_token(call: Call[None], token_id: str) -> Response:
    revoked = container.get().tokens.revoke(token_id)
    return ok({"token_id": revoked.token_id, "revoked": True})
