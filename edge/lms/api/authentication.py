"""Local authentication of the API's callers: bearer tokens and roles.

Every router but ``/api/health`` and the ClassTop clients' paths depends on one of :func:`require_viewer` (reads),
:func:`require_operator` (commands, settings, tags, groups, batches) or :func:`require_admin` (``exec``, tokens,
audit log). They read ``Authorization: Bearer <token>``: 401 ``unauthorized`` without a valid token, 403
``forbidden`` when its role is too low. The caller is left on ``request.state.principal`` for the audit log.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from edge.lms.api.services import Services
from edge.lms.auth import Principal, Role

_bearer = HTTPBearer(auto_error=False, description="an LMS API token (`python -m edge.lms token create`)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    services: Services = request.app.state.services
    principal = services.tokens.verify(credentials.credentials if credentials is not None else None)
    if principal is None:
        why = "missing bearer token" if credentials is None else "invalid or revoked token"
        raise HTTPException(401, f"authentication required: {why}", headers={"WWW-Authenticate": "Bearer"})
    request.state.principal = principal
    return principal


def _require(request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role) -> Principal:
    principal = _authenticate(request, credentials)
    if principal.role < role:
        raise HTTPException(
            403, f"this needs the {role.label} role; token {principal.name!r} is {principal.role.label}"
        )
    return principal


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


ViewerDep = Annotated[Principal, Depends(require_viewer)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]
