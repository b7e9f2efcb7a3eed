"""The site's certificates (:mod:`edge.lms.tls.certificate_watch`): ``GET /api/site-tls`` (viewer) lists them
with their ends, ``POST /api/site-tls/rotate`` (admin) issues new LMS and broker certificates at once."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from edge.lms.api.authentication import AdminDep, require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.services import ServicesDep
from edge.lms.tls import SiteCaError
from shared.errors import ErrorCode

router = APIRouter(prefix="/api/site-tls", tags=["site-tls"], dependencies=[Depends(require_viewer)])

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
