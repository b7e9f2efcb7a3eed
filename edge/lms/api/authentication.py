"""Local authentication of the API's callers: bearer tokens (scripts) or a console session (people), and roles.

Every router but ``/api/health``, sign-in and the ClassTop clients' paths depends on one of :func:`require_viewer`
(reads), :func:`require_operator` (commands, settings, tags, groups, batches) or :func:`require_admin` (``exec``,
tokens, accounts, audit log). They read ``Authorization: Bearer <token>``, or else the console's ``ct_session``
cookie (:mod:`edge.lms.auth.sessions`): 401 ``unauthorized`` without either, 403 ``forbidden`` when the role is too
low. A cookie-authenticated request that changes anything must carry the session's CSRF token in ``X-CSRF-Token``
(403 otherwise), and an account whose password must change may do nothing else first (403). The caller is left
on ``request.state.principal`` for the audit log, and a session on ``request.state.session``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.lms.api.services import Services
from edge.lms.auth import Principal, Role
from edge.lms.auth.sessions import COOKIE, CSRF_HEADER, Session

_bearer = HTTPBearer(auto_error=False, description="an LMS API token (`python -m edge.lms token create`)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_principal(session: Session) -> Principal:
    account = session.account
    return Principal(account.id, account.username, account.role, kind="account", cameras=account.cameras)


def current_session(request: Request) -> Session | None:
    """The console session of the request's cookie (checked once per request), else ``None``."""
    if hasattr(request.state, "session"):
        cached: Session | None = request.state.session
        return cached
    services: Services = request.app.state.services
    session = services.sessions.verify(request.cookies.get(COOKIE))
    request.state.session = session
    return session


def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, *, password_change: bool = False
) -> Principal:
    services: Services = request.app.state.services
    if credentials is not None:
        principal = services.tokens.verify(credentials.credentials)
        if principal is None:
            raise HTTPException(401, "authentication required: invalid or revoked token",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        request.state.principal = principal
        return principal
    session = current_session(request)
    if session is None:
        why = "sign in, or send a bearer token" if COOKIE not in request.cookies else "the session has ended"
        raise HTTPException(401, f"authentication required: {why}", headers={"WWW-Authenticate": "Bearer"})
    if request.method not in _SAFE_METHODS and not services.sessions.csrf_matches(
        session, request.headers.get(CSRF_HEADER)
    ):
        raise HTTPException(403, f"this change needs the session's {CSRF_HEADER} header")
    if session.account.must_change and not password_change:
        raise HTTPException(403, "change your one-time password first (POST /api/session/password)")
    principal = session_principal(session)
    request.state.principal = principal
    return principal


def _require(request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role) -> Principal:
    principal = _authenticate(request, credentials)
    if principal.role < role:
        raise HTTPException(
            403, f"this needs the {role.label} role; token {principal.name!r} is {principal.role.label}"
        )
    return principal


async def require_signed_in(request: Request, credentials: BearerDep) -> Principal:
    """Any caller who is signed in, even one whose one-time password must still change (``/api/session``)."""
    return _authenticate(request, credentials, password_change=True)


async def require_viewer(request: Request, credentials: BearerDep) -> Principal:
    return _require(request, credentials, Role.VIEWER)


async def require_operator(request: Request, credentials: BearerDep) -> Principal:
    return _require(request, credentials, Role.OPERATOR)


async def require_admin(request: Request, credentials: BearerDep) -> Principal:
    return _require(request, credentials, Role.ADMIN)


def is_loopback(request: Request) -> bool:
    host = request.client.host if request.client is not None else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def viewer_or_loopback(request: Request, credentials: BearerDep) -> Principal | None:
    """``/metrics``: open to scrapers on the LMS's own host (loopback), a viewer token from anywhere else."""
    if credentials is None and is_loopback(request):
        return None
    return _require(request, credentials, Role.VIEWER)


SignedInDep = Annotated[Principal, Depends(require_signed_in)]
ViewerDep = Annotated[Principal, Depends(require_viewer)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]
