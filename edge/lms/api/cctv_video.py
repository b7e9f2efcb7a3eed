"""Camera video through the LMS (proxied from the agent's MJPEG server; see :mod:`edge.lms.cctv_proxy`).

| path | answer |
|---|---|
| ``GET /api/cctv/{uuid}/cameras/{camera_id}/live`` | MJPEG (``multipart/x-mixed-replace``), streamed |
| ``GET /api/cctv/{uuid}/cameras/{camera_id}/snapshot`` | ``image/jpeg``, the newest frame |
| ``GET /api/cctv/{uuid}/recordings/{camera_id}/{file}/play?t=&speed=`` | MJPEG playback from ``t`` seconds |

Viewer role. Besides ``Authorization: Bearer``, the token may be given as ``?token=`` so that an ``<img src>``
can show the stream (browsers send no headers for images); it is never passed on to the agent.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from edge.lms.api.deps import BearerDep
from edge.lms.api.errors import error_response
from edge.lms.auth import Principal, Role
from edge.lms.cctv_proxy import (
    CAMERA_ID_RE,
    RECORDING_RE,
    CctvProxy,
    ProxyError,
    live_path,
    playback_path,
    snapshot_path,
)
from shared.errors import ErrorCode


async def viewer_bearer_or_query(request: Request, credentials: BearerDep) -> Principal:
    """A viewer token from ``Authorization: Bearer`` or, for ``<img>`` tags, from ``?token=``."""
    services = request.app.state.services
    token = credentials.credentials if credentials is not None else request.query_params.get("token")
    principal: Principal | None = services.tokens.verify(token)
    if principal is None:
        why = "missing token" if not token else "invalid or revoked token"
        raise HTTPException(401, f"authentication required: {why}", headers={"WWW-Authenticate": "Bearer"})
    if principal.role < Role.VIEWER:
        raise HTTPException(403, "this needs the viewer role")
    request.state.principal = principal
    return principal


router = APIRouter(prefix="/api/cctv", tags=["cctv"], dependencies=[Depends(viewer_bearer_or_query)])

CameraId = Annotated[str, Path(pattern=CAMERA_ID_RE.pattern)]
NO_STORE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _proxy(request: Request) -> CctvProxy:
    proxy: CctvProxy = request.app.state.cctv_proxy
    return proxy


def _error(exc: ProxyError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.code)


async def _stream(request: Request, uuid: str, path: str, query: dict[str, str] | None = None) -> Response:
    try:
        upstream = await _proxy(request).open(uuid, path, query)
    except ProxyError as exc:
        return _error(exc)
    # StreamingResponse cancels the body iterator when the client disconnects; its ``finally`` closes upstream.
    return StreamingResponse(upstream.chunks(), media_type=upstream.media_type, headers=NO_STORE)


@router.get("/{uuid}/cameras/{camera_id}/live", response_model=None)
async def live(request: Request, uuid: str, camera_id: CameraId) -> Response:
    return await _stream(request, uuid, live_path(camera_id))


@router.get("/{uuid}/cameras/{camera_id}/snapshot", response_model=None)
async def snapshot(request: Request, uuid: str, camera_id: CameraId) -> Response:
    try:
        body, media_type = await _proxy(request).read(uuid, snapshot_path(camera_id))
    except ProxyError as exc:
        return _error(exc)
    return Response(body, media_type=media_type, headers=NO_STORE)


@router.get("/{uuid}/recordings/{camera_id}/{file}/play", response_model=None)
async def play(
    request: Request,
    uuid: str,
    camera_id: CameraId,
    file: str,
    t: float = Query(default=0.0, ge=0, le=86400, description="start this many seconds into the recording"),
    speed: float = Query(default=1.0, ge=0.25, le=16),
) -> Response:
    name = f"{camera_id}/{file}"
    if RECORDING_RE.match(name) is None:
        return error_response(
            422, f"bad recording name {name!r}: <camera_id>/<camera_id>_<YYYYmmdd-HHMMSS-mmm>.mp4|avi",
            ErrorCode.INVALID_PARAMS,
        )
    return await _stream(request, uuid, playback_path(name), {"t": f"{t:g}", "speed": f"{speed:g}"})


def install(app: Any, services: Any) -> None:
    """Add the routes and the app's :class:`CctvProxy` (servers on 0.0.0.0 are reached at the agent's address)."""

    def address_of(agent_id: str) -> str | None:
        view = services.registry.get(agent_id)
        return None if view is None else (view.ip_address or view.hostname)

    app.state.cctv_proxy = CctvProxy(services.router, address_of=address_of)
    app.include_router(router)
