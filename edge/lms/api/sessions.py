"""Signing in to the console: ``/api/session`` (open to anyone who can reach the LMS: every school-LAN host).

``POST /api/session`` signs in with a user name and password (JSON only: a cross-site form cannot send it, and
the LMS answers no CORS preflight), rate-limited per source address, and sets the ``ct_session`` cookie
(HTTP-only, ``SameSite=Strict``, ``Secure`` over HTTPS); ``GET`` says who is signed in (and gives the page its CSRF
token again after a reload); ``DELETE`` signs out; ``POST /api/session/password`` changes the holder's password
(the first sign-in with a one-time password may do nothing else). Every outcome is in the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from edge.lms.api.authentication import SignedInDep, current_session
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.services import ServicesDep
from edge.lms.auth import AuthError, SignInRefused
from edge.lms.auth.password_hash import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from edge.lms.auth.sessions import COOKIE, Session
from shared.errors import ErrorCode

router = APIRouter(prefix="/api", tags=["session"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH,
                              description="not the user name, not the current password")


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "?"


def _session_data(session: Session, camera_notice: str) -> dict[str, Any]:
    return {"kind": "account", "user": session.account.as_dict(), "csrf_token": session.csrf_token,
            "expires_at": session.expires_at, "must_change": session.account.must_change,
            "camera_notice": camera_notice}  # fmt: skip


@router.post("/session", response_model=None, responses=errors(401, 415, 429))
async def sign_in(body: SignIn, request: Request, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return error_response(415, "sign in with a JSON body (Content-Type: application/json)", ErrorCode.BAD_PAYLOAD)
    client = _client(request)
    wait = services.sign_in_rate.take(client)
    if wait:
        response = error_response(429, "too many sign-in attempts from this address: wait a little",
                                  ErrorCode.RATE_LIMITED)  # fmt: skip
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    try:
        account = await run_in_threadpool(services.accounts.check, body.username, body.password)
    except SignInRefused as exc:
        services.audit.record(f"user:{body.username[:64]}", None, "session:sign_in", client, "refused", str(exc))
        extra = {} if exc.locked_until is None else {"locked_until": exc.locked_until}
        return error_response(401, str(exc), ErrorCode.UNAUTHORIZED, **extra)
    token, session = services.sessions.open(account, client=client)
    services.audit.record(f"user:{account.username}", account.role.label, "session:sign_in", client, "ok")
    response = JSONResponse(
        {"success": True, "data": _session_data(session, services.config.console.camera_notice)}
    )
    response.set_cookie(
        COOKIE, token, max_age=int(services.sessions.max_age_s), httponly=True, samesite="strict", path="/",
        secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


@router.get("/session", response_model=None)
async def who_am_i(request: Request, services: ServicesDep, principal: SignedInDep) -> dict[str, Any]:
    """Who is signed in, and the console's settings its pages show (``camera_notice``: ``[console]``)."""
    session = current_session(request) if principal.kind == "account" else None
    notice = services.config.console.camera_notice
    if session is not None:
        return {"success": True, "data": _session_data(session, notice)}
    return {"success": True, "data": {"kind": principal.kind, "name": principal.name, "role": principal.role.label,
                                      "camera_notice": notice}}


@router.delete("/session", response_model=None)
async def sign_out(
    request: Request, response: Response, services: ServicesDep, principal: SignedInDep
) -> dict[str, Any]:
    session = current_session(request)
    if session is not None:
        services.sessions.close(session.id)
        services.audit.record(principal.actor, principal.role.label, "session:sign_out", _client(request), "ok")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return {"success": True, "data": {"signed_out": session is not None}}


@router.post("/session/password", response_model=None, responses=errors(403))
async def change_password(
    body: PasswordChange, request: Request, services: ServicesDep, principal: SignedInDep
) -> dict[str, Any] | JSONResponse:
    session = current_session(request)
    if session is None or principal.kind != "account":
        return error_response(403, "only a signed-in account has a password to change (an API token has none)",
                              ErrorCode.FORBIDDEN)
    try:
        await run_in_threadpool(services.accounts.change_password, session.account.id, body.current_password,
                                body.new_password, session_id=session.id)  # fmt: skip
    except SignInRefused as exc:
        services.audit.record(principal.actor, principal.role.label, "account:password", principal.name, "refused")
        return error_response(403, str(exc), ErrorCode.FORBIDDEN)
    except AuthError as exc:
        return error_response(422, str(exc), ErrorCode.BAD_PAYLOAD)
    services.audit.record(principal.actor, principal.role.label, "account:password", principal.name, "ok")
    return {"success": True, "data": {"changed": True}}
