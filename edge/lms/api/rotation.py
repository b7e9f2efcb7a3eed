"""Rotating agents' broker credentials (admin): one agent, or every agent of the site
(:mod:`edge.lms.enrolment.credential_rotation`)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from edge.lms.api.authentication import AdminDep, require_admin
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import AgentIdPath
from edge.lms.api.services import ServicesDep
from edge.lms.enrolment.credential_rotation import CredentialRotation, RotationResult
from shared.errors import ErrorCode

router = APIRouter(prefix="/api", tags=["rotation"], dependencies=[Depends(require_admin)], responses=errors(409))

NO_DYNSEC = "this site broker has no per-agent credentials ([site_broker.dynsec] is not set)"


def _record(services: ServicesDep, principal: AdminDep, results: list[RotationResult]) -> dict[str, Any]:
    for result in results:
        services.audit.record(
            principal.actor,
            principal.role.label,
            "broker-credentials:rotate",
            result.agent_id,
            "ok" if result.rotated else "error",
            {"error": result.error} if result.error else None,
        )
    return {
        "success": True,
        "data": {
            "results": [r.as_dict() for r in results],
            "rotated": sum(r.rotated for r in results),
            "failed": sum(not r.rotated for r in results),
        },
    }


@router.post("/agents/{uuid}/broker-credentials/rotate", response_model=None)
async def rotate_agent_credentials(
    agent_id: AgentIdPath, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    rotation: CredentialRotation | None = services.credential_rotation
    if rotation is None:
        return error_response(409, NO_DYNSEC, ErrorCode.CONFLICT)
    result = await asyncio.to_thread(rotation.rotate_agent, agent_id)
    body = _record(services, principal, [result])
    if not result.rotated:
        return error_response(409, result.error or "not rotated", ErrorCode.CONFLICT)
    return body


@router.post("/broker-credentials/rotate", response_model=None)
async def rotate_site_credentials(services: ServicesDep, principal: AdminDep) -> dict[str, Any] | JSONResponse:
    rotation = services.credential_rotation
    if rotation is None:
        return error_response(409, NO_DYNSEC, ErrorCode.CONFLICT)
    return _record(services, principal, await asyncio.to_thread(rotation.rotate_site))
