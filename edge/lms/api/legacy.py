"""ClassTop desktop clients: ``/ws/{client_uuid}`` (their remote-control WebSocket, no auth — the clients
send none) and, for the console, the latest camera preview frame of a client (viewer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, WebSocket
from fastapi.responses import JSONResponse

from edge.lms.api.deps import Services, ServicesDep, require_viewer
from edge.lms.api.errors import error_response
from shared.errors import ErrorCode

router = APIRouter(tags=["classtop clients"])


@router.websocket("/ws/{client_uuid}")
async def classtop_socket(websocket: WebSocket, client_uuid: str) -> None:
    services: Services = websocket.app.state.services
    if services.legacy is None:
        await websocket.close(code=1013, reason="ClassTop clients are not served by this LMS")
        return
    await services.legacy.serve(websocket, client_uuid)


@router.get("/api/legacy/{uuid}/camera/frame", dependencies=[Depends(require_viewer)], response_model=None)
async def camera_frame(uuid: str, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    """The client's latest preview frame (``camera_start_preview`` makes it send them)."""
    frame = services.legacy.latest_frame(uuid) if services.legacy is not None else None
    if frame is None:
        return error_response(404, f"no preview frame from {uuid!r} (start one with camera_start_preview)",
                              ErrorCode.NOT_FOUND)  # fmt: skip
    return {"success": True, "data": {"uuid": uuid, **frame}}
