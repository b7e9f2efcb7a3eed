"""API tokens for people and scripts (admin, tenant-wide: a token scoped to sites gets 403):
``GET /api/tokens?limit=&cursor=`` (never secrets or hashes), ``POST /api/tokens`` (the secret is shown once),
``DELETE /api/tokens/{token_id}`` (refused from that second on). Creating and revoking are audited."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import audited, authenticate, endpoint, ok, parse_body, query_int, query_str
from chalicelib.api.schemas import CreateTokenBody
from chalicelib.domain.token import ApiToken, Role
from chalicelib.errors import BadRequest
from shared.topics import is_valid_id

bp = Blueprint(__name__)


@bp.route("/api/tokens", methods=["GET"])
@endpoint
def list_tokens() -> Response:
    request = bp.current_request
    authenticate(request, Role.ADMIN, tenant_wide=True)
    page = container.get().tokens.page(limit=query_int(request, "limit", 100), cursor=query_str(request, "cursor"))
    return ok(page.to_dict("tokens", ApiToken.to_dict))


@bp.route("/api/tokens", methods=["POST"])
@audited(bp, "token.create")
@endpoint
def create_token() -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.ADMIN, tenant_wide=True)
    body = parse_body(request, CreateTokenBody)
    issued = container.get().tokens.create(body.role, body.name, site_ids=body.site_ids, ttl_s=body.ttl_s,
                                           created_by=principal.name)
    return ok({"token": issued.secret, **issued.token.to_dict()}, 201)


@bp.route("/api/tokens/{token_id}", methods=["DELETE"])
@audited(bp, "token.revoke")
@endpoint
def revoke_token(token_id: str) -> Response:
    authenticate(bp.current_request, Role.ADMIN, tenant_wide=True)
    if not is_valid_id(token_id):
        raise BadRequest(f"token id: invalid {token_id[:80]!r}")
    revoked = container.get().tokens.revoke(token_id)
    return ok({"token_id": revoked.token_id, "revoked": True})
