"""The site's certificates (:mod:`edge.lms.tls.certificate_watch`): ``GET /api/site-tls`` (viewer) lists them
with their ends, ``POST /api/site-tls/rotate`` (admin) issues new LMS and broker certificates at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from edge.lms.api.authentication import AdminDep, require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.services import ServicesDep
from edge.lms.tls import SiteCaError
from edge.lms.tls.ca_rotation import CaRotationError, CaRotationState
from shared.errors import ErrorCode

router = APIRouter(prefix="/api/site-tls", tags=["site-tls"], dependencies=[Depends(require_viewer)],
                   responses=errors(409, 500))
#: every POST here is admin-only (AdminDep); GETs are for viewers

NOT_WATCHED = "this LMS does not manage site certificates (plain HTTP on loopback, or not started yet)"


@router.get("", response_model=None)
async def site_tls_status(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    if services.certificates is None:
        return error_response(409, NOT_WATCHED, ErrorCode.CONFLICT)
    items = [c.as_dict() for c in services.certificates.status()]
    return {"success": True, "data": {"certificates": items, "expiring": [c["name"] for c in items if c["warning"]]}}


@router.post("/rotate", response_model=None)
async def rotate_site_certificates(services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    """New LMS and broker certificates (new keys, same site CA); open connections keep theirs."""
    certificates = services.certificates
    if certificates is None:
        return error_response(409, NOT_WATCHED, ErrorCode.CONFLICT)
    try:
        files = await asyncio.to_thread(certificates.rotate)
    except SiteCaError as exc:
        services.audit.record(principal.actor, principal.role.label, "site-tls:rotate", "lms,broker", "error",
                              {"error": str(exc)})  # fmt: skip
        return error_response(500, f"rotation failed, the previous certificates stay: {exc}", ErrorCode.INTERNAL)
    serials = {"lms": f"{files.lms.serial:x}", "broker": f"{files.broker.serial:x}"}
    services.audit.record(principal.actor, principal.role.label, "site-tls:rotate", "lms,broker", "ok", serials)
    return {"success": True, "data": {"rotated": ["lms", "broker"], "serials": serials, "ca_hash": files.fingerprint,
                                      "not_after": {"lms": files.lms.not_after, "broker": files.broker.not_after}}}


# ------------------------------------------------------------ the site CA's rotation (edge.lms.tls.ca_rotation)

NO_CA_ROTATION = "this LMS cannot rotate its site CA ([site_broker.dynsec] is not set: agents cannot be told)"


class CaSwitchRequest(BaseModel):
    """``POST /api/site-tls/ca/switch`` body."""

    model_config = ConfigDict(extra="forbid")

    force: StrictBool = Field(default=False, description="switch although some agents do not trust the next CA yet")


@router.get("/ca", response_model=None)
async def ca_rotation_state(services: ServicesDep) -> dict[str, Any] | JSONResponse:
    if services.ca_rotation is None:
        return error_response(409, NO_CA_ROTATION, ErrorCode.CONFLICT)
    try:
        return {"success": True, "data": services.ca_rotation.state().as_dict()}
    except SiteCaError as exc:
        return error_response(500, str(exc), ErrorCode.INTERNAL)


async def _ca_step(services: ServicesDep, principal: AdminDep, step: str, run: Callable[[], CaRotationState]
                   ) -> dict[str, Any] | JSONResponse:  # fmt: skip
    try:
        state = await asyncio.to_thread(run)
    except CaRotationError as exc:
        services.audit.record(principal.actor, principal.role.label, f"site-ca:{step}", "", "refused",
                              {"error": str(exc)})  # fmt: skip
        return error_response(409, str(exc), ErrorCode.CONFLICT)
    except SiteCaError as exc:
        return error_response(500, str(exc), ErrorCode.INTERNAL)
    services.audit.record(principal.actor, principal.role.label, f"site-ca:{step}", state.next_fingerprint or "",
                          "ok", {"pending": state.pending})  # fmt: skip
    return {"success": True, "data": state.as_dict()}


@router.post("/ca/begin", response_model=None)
async def ca_begin(services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    """Make the next CA and send it (with the current one) to every agent; again: resend to those missing."""
    rotation = services.ca_rotation
    if rotation is None:
        return error_response(409, NO_CA_ROTATION, ErrorCode.CONFLICT)
    return await _ca_step(services, principal, "begin", rotation.begin)


@router.post("/ca/switch", response_model=None)
async def ca_switch(
    services: ServicesDep, principal: AdminDep, body: CaSwitchRequest | None = None
) -> dict[str, Any] | JSONResponse:
    rotation = services.ca_rotation
    if rotation is None:
        return error_response(409, NO_CA_ROTATION, ErrorCode.CONFLICT)
    force = body.force if body is not None else False
    return await _ca_step(services, principal, "switch", lambda: rotation.switch(force=force))


@router.post("/ca/retire", response_model=None)
async def ca_retire(services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    rotation = services.ca_rotation
    if rotation is None:
        return error_response(409, NO_CA_ROTATION, ErrorCode.CONFLICT)
    return await _ca_step(services, principal, "retire", rotation.retire)
