"""The console's accounts (admin only): invite, change role or camera permission, disable, unlock, reset, remove.

An invitation or a reset answers a one-time password, shown once, that the holder changes at the first sign-in.
An admin cannot disable, demote or remove their own account, nor the last enabled admin account (a site must
keep a way in besides the CLI). Every change is in the audit log.
"""

from __future__ import annotations

from secrets import token_urlsafe
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from edge.lms.api.authentication import AdminDep, require_admin
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import RowId
from edge.lms.api.services import ServicesDep
from edge.lms.auth import Account, AccountExists, AuthError, Principal, Role, UnknownAccount
from edge.lms.auth.accounts import USERNAME_PATTERN
from shared.errors import ErrorCode

router = APIRouter(prefix="/api", tags=["accounts"], dependencies=[Depends(require_admin)])
RoleName = Literal["viewer", "operator", "admin"]


class AccountInvite(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as they are: 0 is not false

    username: str = Field(pattern=USERNAME_PATTERN.pattern, description="1-64 letters, digits or _ . @ -")
    role: RoleName
    cameras: bool = Field(default=False, description="may watch live views, recordings and snapshots")


class AccountChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as they are: 0 is not false

    role: RoleName | None = None
    cameras: bool | None = None
    disabled: bool | None = None
    unlock: bool = False


def _own_or_last_admin(
    services: ServicesDep, principal: Principal, target: Account, change: AccountChange
) -> str | None:
    """Why ``change`` (a removal is checked as disabling) would lock the admin or the site out, else ``None``."""
    removes_admin = change.disabled is True or (change.role is not None and change.role != "admin")
    if not removes_admin:
        return None
    if principal.kind == "account" and principal.token_id == target.id:
        return "you cannot disable or demote your own account (ask another admin)"
    if target.role is Role.ADMIN and not target.disabled:
        admins = [a for a in services.accounts.list() if a["role"] == "admin" and not a["disabled"]]
        if len(admins) <= 1:
            return "this is the last enabled admin account"
    return None


@router.get("/accounts")
async def list_accounts(services: ServicesDep) -> dict[str, Any]:
    accounts = services.accounts.list()
    return {"success": True, "data": {"accounts": accounts, "count": len(accounts)}}


@router.post("/accounts", status_code=201, response_model=None, responses=errors(409, 422))
async def invite_account(
    body: AccountInvite, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    password = token_urlsafe(12)
    try:
        account = await run_in_threadpool(
            lambda: services.accounts.create(
                body.username, body.role, password, cameras=body.cameras, must_change=True, created_by=principal.actor
            )
        )
    except AccountExists as exc:
        return error_response(409, str(exc), ErrorCode.CONFLICT)
    except AuthError as exc:
        return error_response(422, str(exc), ErrorCode.BAD_PAYLOAD)
    services.audit.record(principal.actor, principal.role.label, "account:create", body.username, "ok",
                          {"role": body.role, "cameras": body.cameras})  # fmt: skip
    return {"success": True, "data": {**account.as_dict(), "one_time_password": password}}


@router.patch("/accounts/{account_id}", response_model=None, responses=errors(404, 409))
async def change_account(
    account_id: RowId, body: AccountChange, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        target = services.accounts.get(account_id)
        refusal = _own_or_last_admin(services, principal, target, body)
        if refusal:
            return error_response(409, refusal, ErrorCode.CONFLICT)
        account = services.accounts.update(
            account_id, role=None if body.role is None else Role.parse(body.role), cameras=body.cameras,
            disabled=body.disabled, unlock=body.unlock,
        )  # fmt: skip
    except UnknownAccount as exc:
        return error_response(404, str(exc), ErrorCode.NOT_FOUND)
    services.audit.record(principal.actor, principal.role.label, "account:update", target.username, "ok",
                          body.model_dump(exclude_none=True))  # fmt: skip
    return {"success": True, "data": account.as_dict()}


@router.post("/accounts/{account_id}/password-reset", response_model=None, responses=errors(404))
async def reset_password(
    account_id: RowId, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        target = services.accounts.get(account_id)
        password = await run_in_threadpool(services.accounts.reset_password, account_id)
    except UnknownAccount as exc:
        return error_response(404, str(exc), ErrorCode.NOT_FOUND)
    services.audit.record(principal.actor, principal.role.label, "account:password_reset", target.username, "ok")
    return {"success": True, "data": {**target.as_dict(), "must_change": True, "one_time_password": password}}


@router.delete("/accounts/{account_id}", response_model=None, responses=errors(404, 409))
async def remove_account(
    account_id: RowId, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        target = services.accounts.get(account_id)
        refusal = _own_or_last_admin(services, principal, target, AccountChange(disabled=True))
        if refusal:
            return error_response(409, refusal.replace("disable or demote", "remove"), ErrorCode.CONFLICT)
        services.accounts.delete(account_id)
    except UnknownAccount as exc:
        return error_response(404, str(exc), ErrorCode.NOT_FOUND)
    services.audit.record(principal.actor, principal.role.label, "account:delete", target.username, "ok")
    return {"success": True, "data": {"id": account_id, "removed": True}}
