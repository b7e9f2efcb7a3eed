"""The cloud outbox's dead-letter (admin only): messages the cloud broker refused for good.

``GET /api/cloud/dead-letters`` lists them (newest first, without payload bytes), ``POST
/api/cloud/dead-letters/{id}/retry`` moves one back to the outbox (it then goes out after what is queued now),
``DELETE /api/cloud/dead-letters/{id}`` discards one. Retries and discards are written to the audit log.

An LMS without a cloud link (no ``[cloud]`` section) has no outbox pump: these paths answer 501
``not_supported`` (after authentication, like the other paths of a feature that is off).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from edge.lms.api.authentication import AdminDep, require_admin
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY, RowId
from edge.lms.api.services import ServicesDep
from edge.lms.cloud import DEAD_LIST_MAX
from shared.errors import ErrorCode

router = APIRouter(prefix="/api/cloud", tags=["cloud"], dependencies=[Depends(require_admin)])

_NO_CLOUD = "this LMS has no cloud link ([cloud] is not configured): there is no outbox"


def _no_cloud() -> JSONResponse:
    return error_response(501, _NO_CLOUD, ErrorCode.NOT_SUPPORTED)


def _unknown(dead_id: int) -> JSONResponse:
    return error_response(404, f"no dead-letter with id {dead_id}", ErrorCode.NOT_FOUND)


@router.get("/dead-letters", response_model=None, responses=errors(501))
async def list_dead_letters(
    services: ServicesDep, limit: Annotated[int, Query(ge=1, le=DEAD_LIST_MAX), DIGITS_ONLY] = 100
) -> dict[str, Any] | JSONResponse:
    cloud = services.cloud
    if cloud is None:
        return _no_cloud()
    rows = [asdict(r) for r in cloud.dead_letters(limit)]
    total = cloud.outbox_dead()
    return {"success": True, "data": {"dead_letters": rows, "count": len(rows), "total": total}}


@router.post("/dead-letters/{dead_id}/retry", response_model=None, responses=errors(404, 501))
async def retry_dead_letter(
    dead_id: RowId, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    cloud = services.cloud
    if cloud is None:
        return _no_cloud()
    dead = cloud.dead_letter(dead_id)
    outbox_id = cloud.retry_dead(dead_id) if dead is not None else None
    if dead is None or outbox_id is None:
        return _unknown(dead_id)
    services.audit.record(principal.actor, principal.role.label, "outbox:retry", str(dead_id), "ok",
                          {"topic": dead.topic, "outbox_id": outbox_id, "reason": dead.reason})  # fmt: skip
    return {"success": True, "data": {"id": dead_id, "outbox_id": outbox_id, "topic": dead.topic}}


@router.delete("/dead-letters/{dead_id}", response_model=None, responses=errors(404, 501))
async def discard_dead_letter(
    dead_id: RowId, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    cloud = services.cloud
    if cloud is None:
        return _no_cloud()
    dead = cloud.dead_letter(dead_id)
    if dead is None or not cloud.discard_dead(dead_id):
        return _unknown(dead_id)
    services.audit.record(principal.actor, principal.role.label, "outbox:discard", str(dead_id), "ok",
                          {"topic": dead.topic, "size": dead.size, "reason": dead.reason})  # fmt: skip
    return {"success": True, "data": {"id": dead_id, "discarded": True}}
