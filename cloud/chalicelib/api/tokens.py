"""API tokens for people and scripts (admin, tenant-wide: a token scoped to sites gets 403):
``GET /api/tokens?limit=&cursor=`` (never secrets or hashes), ``POST /api/tokens`` (the secret is shown once),
``DELETE /api/tokens/{token_id}`` (refused from that second on). Creating and revoking are audited."""

from __future__ import annotations

from typing import Annotated, Literal

from chalice.app import Response
from pydantic import Field

from chalicelib import container
from chalicelib.api.http import RequestBody, ok, query_int, query_str
from chalicelib.api.params import CURSOR, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.token import MAX_TOKEN_TTL_S, MIN_TOKEN_TTL_S, ApiToken
from shared.topics import ID_PATTERN

#: most sites one API token may be scoped to
MAX_TOKEN_SITES = 100

api = Router(__name__, tag="tokens")


class CreateTokenBody(RequestBody):
    """``POST /api/tokens``: a token for a person or a script. ``site_ids`` limits it to those sites (absent or
    ``null``: every site); ``ttl_s`` is its lifetime (default 90 days, at most 365)."""

    #: not blank (the service strips it): a character that is not whitespace in Python's sense nor JSON Schema's
    name: str = Field(min_length=1, max_length=128, pattern=r"[^\s\x1c-\x1f\x85\ufeff]")
    role: Literal["viewer", "operator", "admin"]
    site_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(default=None, min_length=1,
                                                                            max_length=MAX_TOKEN_SITES)
    ttl_s: int | None = Field(default=None, ge=MIN_TOKEN_TTL_S, le=MAX_TOKEN_TTL_S)


@api.route("GET", "/api/tokens", Access.ADMIN, Scope.TENANT, "List API tokens (never their secrets)",
           query=(limit(100), CURSOR))
def list_tokens(call: Call[None]) -> Response:
    page = container.get().tokens.page(limit=query_int(call.request, "limit", 100),
                                       cursor=query_str(call.request, "cursor"))
    return ok(page.to_dict("tokens", ApiToken.to_dict))


@api.route("POST", "/api/tokens", Access.ADMIN, Scope.TENANT,
           "Create an API token (the secret is shown once; it expires)", body=CreateTokenBody,
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
