"""Token management and the audit log (admin only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.api.authentication import AdminDep, require_admin
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY, RowId
from edge.lms.api.services import ServicesDep
from edge.lms.auth import AuthError, Role
from edge.lms.auth.tokens import NAME_PATTERN, UnknownToken
from shared.errors import ErrorCode

router = APIRouter(prefix="/api", tags=["auth"], dependencies=[Depends(require_admin)])


class TokenRequest(BaseModel):
    """``POST /api/tokens`` body."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="who or what holds the token",
                      json_schema_extra={"pattern": NAME_PATTERN.pattern})  # fmt: skip
    role: str = Field(pattern=r"^(viewer|operator|admin)$")


@router.get("/tokens")
async def list_tokens(services: ServicesDep) -> dict[str, Any]:
    tokens = services.tokens.list()
    return {"success": True, "data": {"tokens": tokens, "count": len(tokens)}}


@router.post("/tokens", status_code=201, response_model=None)
async def create_token(body: TokenRequest, services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    try:
        token_id, token = services.tokens.create(body.name, Role.parse(body.role), created_by=principal.actor)
    except AuthError as exc:
        return error_response(422, str(exc), ErrorCode.BAD_PAYLOAD)
    services.audit.record(principal.actor, principal.role.label, "token:create", f"{body.name}#{token_id}", "ok",
                          {"role": body.role})  # fmt: skip
    return {"success": True, "data": {"id": token_id, "name": body.name, "role": body.role, "token": token}}


@router.delete("/tokens/{token_id}", response_model=None, responses=errors(404))
async def revoke_token(token_id: RowId, services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    try:
        services.tokens.revoke(token_id)
    except AuthError as exc:
        return error_response(404, str(exc), ErrorCode.NOT_FOUND)
    services.audit.record(principal.actor, principal.role.label, "token:revoke", str(token_id), "ok")
    return {"success": True, "data": {"id": token_id, "revoked": True}}


@router.post("/tokens/{token_id}/rotate", status_code=201, response_model=None, responses=errors(404, 409))
async def rotate_token(token_id: RowId, services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    """A new token with the same name and role; the old one keeps working until ``DELETE /api/tokens/{id}``."""
    try:
        new_id, token = services.tokens.rotate(token_id, created_by=f"{principal.actor} rotation of #{token_id}")
    except UnknownToken as exc:
        return error_response(404, str(exc), ErrorCode.NOT_FOUND)
    except AuthError as exc:
        return error_response(409, str(exc), ErrorCode.CONFLICT)
    services.audit.record(principal.actor, principal.role.label, "token:rotate", str(token_id), "ok", {"new": new_id})
    return {"success": True, "data": {"id": new_id, "replaces": token_id, "token": token}}


@router.get("/audit")
async def audit_log(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
    actor: str | None = Query(default=None, max_length=128),
    action: str | None = Query(default=None, max_length=128),
    since: float | None = Query(default=None, ge=0),
) -> dict[str, Any]:
    rows = services.audit.recent(limit=limit, actor=actor, action=action, since=since)
    return {"success": True, "data": {"entries": rows, "count": len(rows)}}
