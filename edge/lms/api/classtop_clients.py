"""ClassTop desktop clients: ``/ws/{client_uuid}`` (their remote-control WebSocket, no auth — the clients send
none), the site admin's decisions on new clients (``[classtop] client_policy = "approval"``), and, for the
console, the latest camera preview frame of a client (viewer token).

| path | role |
|---|---|
| ``GET /api/classtop/clients?status=pending`` | viewer: clients that asked to join (by ``status`` or all) |
| ``POST /api/classtop/clients/{uuid}/approve`` | admin (audited ``classtop:approve``): it joins at once |
| ``POST /api/classtop/clients/{uuid}/reject`` | admin (audited ``classtop:reject``): a pending one is refused |

A refused ``/ws`` handshake is answered with the HTTP error in the LMS's envelope (403 an agent's id or a rejected
client, 429 too many attempts or connections from one address, 503 the LMS full); the client retries in 5 s.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, WebSocket
from fastapi.responses import JSONResponse

from edge.lms.api.authentication import AdminDep, ViewerDep, require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import ClientUuidPath
from edge.lms.api.services import Services, ServicesDep
from edge.lms.legacy import Approval, Refused
from shared.errors import ErrorCode

router = APIRouter(tags=["classtop clients"])


def refusal(exc: Refused) -> JSONResponse:
    """A :class:`Refused` as the LMS's error answer (with ``Retry-After`` when it says when to come back)."""
    response = error_response(exc.status, exc.message, exc.code)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    return response


@router.websocket("/ws/{client_uuid}")
async def classtop_socket(websocket: WebSocket, client_uuid: str) -> None:
    services: Services = websocket.app.state.services
    hub = services.legacy
    if hub is None:
        await websocket.close(code=1013, reason="ClassTop clients are not served by this LMS")
        return
    try:
        admitted = await hub.admit(websocket, client_uuid)
    except Refused as exc:
        await websocket.send_denial_response(refusal(exc))
        return
    await hub.serve(websocket, admitted)


@router.get("/api/legacy/{uuid}/camera/frame", response_model=None, responses=errors(404))
async def camera_frame(
    client_uuid: ClientUuidPath, services: ServicesDep, principal: ViewerDep
) -> dict[str, Any] | JSONResponse:
    """The client's latest preview frame (``camera_start_preview`` makes it send them); needs the cameras
    permission."""
    if not principal.cameras:
        return error_response(403, f"watching cameras needs the cameras permission, which {principal.name!r} lacks",
                              ErrorCode.FORBIDDEN)  # fmt: skip
    frame = services.legacy.latest_frame(client_uuid) if services.legacy is not None else None
    if frame is None:
        return error_response(404, f"no preview frame from {client_uuid!r} (start one with camera_start_preview)",
                              ErrorCode.NOT_FOUND)  # fmt: skip
    return {"success": True, "data": {"uuid": client_uuid, **frame}}


@router.get("/api/classtop/clients", dependencies=[Depends(require_viewer)])
async def classtop_clients(
    services: ServicesDep,
    status: Literal["pending", "approved", "rejected"] | None = Query(default=None, description="only these"),
) -> dict[str, Any]:
    """ClassTop clients that asked to join this site, with the site's policy."""
    hub = services.legacy
    rows = services.admissions.clients(Approval(status) if status is not None else None)
    clients = [{**a.to_dict(), "connected": hub is not None and hub.connected(a.client_uuid)} for a in rows]
    policy = services.config.classtop.client_policy
    return {"success": True, "data": {"policy": policy, "clients": clients, "count": len(clients)}}


@router.post("/api/classtop/clients/{uuid}/approve", response_model=None, responses=errors(404, 409, 503))
async def approve(
    client_uuid: ClientUuidPath, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    return await _decide(services, principal.actor, principal.role.label, client_uuid, Approval.APPROVED)


@router.post("/api/classtop/clients/{uuid}/reject", response_model=None, responses=errors(404, 409, 503))
async def reject(
    client_uuid: ClientUuidPath, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    return await _decide(services, principal.actor, principal.role.label, client_uuid, Approval.REJECTED)


async def _decide(
    services: Services, actor: str, role: str, client_uuid: str, approval: Approval
) -> dict[str, Any] | JSONResponse:
    admissions, hub = services.admissions, services.legacy
    decide = admissions.approve if approval is Approval.APPROVED else admissions.reject
    action = f"classtop:{'approve' if approval is Approval.APPROVED else 'reject'}"
    try:
        decided = await asyncio.to_thread(decide, client_uuid, actor)  # durable (flushed) when it returns
    except Refused as exc:
        await asyncio.to_thread(services.audit.record, actor, role, action, client_uuid, f"refused: {exc.message}")
        return refusal(exc)
    detail = {"name": decided.name, "ip_address": decided.ip_address}
    await asyncio.to_thread(services.audit.record, actor, role, action, client_uuid, "ok", detail)
    if hub is not None:
        if approval is Approval.APPROVED:
            hub.promote(client_uuid)
        else:
            await hub.refuse(client_uuid)
    connected = hub is not None and hub.connected(client_uuid)
    return {"success": True, "data": {**decided.to_dict(), "connected": connected}}
