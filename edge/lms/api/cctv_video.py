"""Camera video through the LMS (proxied from the agent's MJPEG server; see :mod:`edge.lms.cctv.cctv_proxy`).

| path | answer |
|---|---|
| ``GET /api/cctv/{uuid}/cameras/{camera_id}/live`` | MJPEG (``multipart/x-mixed-replace``), streamed |
| ``GET /api/cctv/{uuid}/cameras/{camera_id}/snapshot`` | ``image/jpeg``, the newest frame |
| ``GET /api/cctv/{uuid}/recordings/{camera_id}/{file}/play?t=&speed=`` | MJPEG playback from ``t`` seconds |

Viewer role and the cameras permission (accounts hold it or not; tokens have it by their role): ``Authorization:
Bearer``, the console's session cookie (the console's own ``<img src>``), or, for an ``<img src>`` of another page
(browsers send no headers for images), a ``?ticket=`` minted for that very path by ``POST /api/cctv/tickets``
``{"path"}`` (viewer token in the header; the answer is ``{ticket, url, expires_at, expires_in_s}``; see
:mod:`edge.lms.cctv.video_tickets`). An API token in the URL (``?token=``) is refused: URLs end up in logs, browser
history and ``Referer`` headers. Every live view, playback and snapshot is in the audit log: who, which camera, when,
and (live and playback) for how long.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import APIKeyQuery
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.lms.api.authentication import BearerDep, ViewerDep, current_session, require_viewer, session_principal
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import AgentIdPath
from edge.lms.auth import Audit, Principal, Role
from edge.lms.cctv import (
    CAMERA_ID_RE,
    RECORDING_RE,
    CctvProxy,
    ProxyError,
    VideoTickets,
    live_path,
    playback_path,
    snapshot_path,
)
from shared.errors import ErrorCode

#: The ``?ticket=`` of an ``<img src>`` (documented as the video paths' other security scheme).
_ticket = APIKeyQuery(
    name="ticket", auto_error=False, scheme_name="VideoTicket",
    description="a ticket for this very path from POST /api/cctv/tickets (for <img src>)",
)


async def viewer_bearer_or_ticket(
    request: Request, credentials: BearerDep, ticket: Annotated[str | None, Depends(_ticket)]
) -> Principal:
    """A viewer who may watch cameras, from ``Authorization: Bearer``, from the console's session cookie, or, for
    ``<img>`` tags of other pages, from a ``?ticket=`` for this path."""
    services = request.app.state.services
    ticket = request.query_params.get("ticket")
    if credentials is not None:
        principal: Principal | None = services.tokens.verify(credentials.credentials)
        why = "invalid or revoked token"
    elif "token" in request.query_params:
        principal, why = None, "API tokens are not accepted in URLs; get a ?ticket= from POST /api/cctv/tickets"
    elif ticket:
        tickets: VideoTickets = request.app.state.video_tickets
        principal = tickets.verify(ticket, request.url.path)
        why = "the ticket is expired, forged, or for another path"
    else:
        session = current_session(request)
        principal = None if session is None else session_principal(session)
        why = "a ticket (POST /api/cctv/tickets), a bearer token or a console session is needed"
        if session is not None and session.account.must_change:
            raise HTTPException(403, "change your one-time password first (POST /api/session/password)")
    if principal is None:
        raise HTTPException(401, f"authentication required: {why}", headers={"WWW-Authenticate": "Bearer"})
    if principal.role < Role.VIEWER:
        raise HTTPException(403, "this needs the viewer role")
    require_cameras(principal)
    request.state.principal = principal
    return principal


def require_cameras(principal: Principal) -> None:
    """403 unless ``principal`` may watch cameras (a permission of its own for accounts: docs/console.md)."""
    if not principal.cameras:
        raise HTTPException(403, f"watching cameras needs the cameras permission, which {principal.name!r} lacks")


router = APIRouter(prefix="/api/cctv", tags=["cctv"], dependencies=[Depends(viewer_bearer_or_ticket)])
tickets_router = APIRouter(prefix="/api/cctv", tags=["cctv"], dependencies=[Depends(require_viewer)])

CameraId = Annotated[str, Path(pattern=CAMERA_ID_RE.pattern)]
#: A recording's file name (the camera's own id must lead it: else 404).
RECORDING_FILE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}_\d{8}-\d{6}-\d{3}\.(mp4|avi)$"
RecordingFile = Annotated[
    str, Path(description="<camera_id>_<timestamp>.mp4|avi", json_schema_extra={"pattern": RECORDING_FILE_PATTERN})
]
#: The video paths' answers: the stream or frame, or why the agent's video server could not give it.
VIDEO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "MJPEG (multipart/x-mixed-replace) or a JPEG frame, proxied from the agent",
          "content": {"multipart/x-mixed-replace": {}, "image/jpeg": {}}},
    **errors(404, 409, 502, 503, 504),
}
NO_STORE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _proxy(request: Request) -> CctvProxy:
    proxy: CctvProxy = request.app.state.cctv_proxy
    return proxy


def _error(exc: ProxyError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.code)


def _watched(request: Request, action: str, target: str) -> int:
    """An audit row for a look at a camera: who, which camera, when (its duration is added when it ends)."""
    principal: Principal = request.state.principal
    audit: Audit = request.app.state.services.audit
    return audit.record(principal.actor, principal.role.label, action, target, "watching")


async def _audited_chunks(request: Request, chunks: AsyncIterator[bytes], row: int) -> AsyncIterator[bytes]:
    started = time.monotonic()
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        audit: Audit = request.app.state.services.audit
        audit.complete(row, f"ended after {time.monotonic() - started:.0f} s")


async def _stream(
    request: Request, agent_id: str, path: str, action: str, target: str, query: dict[str, str] | None = None
) -> Response:
    try:
        upstream = await _proxy(request).open(agent_id, path, query)
    except ProxyError as exc:
        return _error(exc)
    row = _watched(request, action, f"{agent_id}/{target}")
    # StreamingResponse cancels the body iterator when the client disconnects; its ``finally`` closes upstream.
    return StreamingResponse(
        _audited_chunks(request, upstream.chunks(), row), media_type=upstream.media_type, headers=NO_STORE
    )


@router.get("/{uuid}/cameras/{camera_id}/live", response_model=None, responses=VIDEO_RESPONSES)
async def live(request: Request, agent_id: AgentIdPath, camera_id: CameraId) -> Response:
    return await _stream(request, agent_id, live_path(camera_id), "cctv:live", camera_id)


@router.get("/{uuid}/cameras/{camera_id}/snapshot", response_model=None, responses=VIDEO_RESPONSES)
async def snapshot(request: Request, agent_id: AgentIdPath, camera_id: CameraId) -> Response:
    try:
        body, media_type = await _proxy(request).read(agent_id, snapshot_path(camera_id))
    except ProxyError as exc:
        return _error(exc)
    request.app.state.services.audit.complete(_watched(request, "cctv:snapshot", f"{agent_id}/{camera_id}"), "ok")
    return Response(body, media_type=media_type, headers=NO_STORE)


@router.get("/{uuid}/recordings/{camera_id}/{file}/play", response_model=None, responses=VIDEO_RESPONSES)
async def play(
    request: Request,
    agent_id: AgentIdPath,
    camera_id: CameraId,
    file: RecordingFile,
    t: float = Query(default=0.0, ge=0, le=86400, description="start this many seconds into the recording"),
    speed: float = Query(default=1.0, ge=0.25, le=16),
) -> Response:
    name = f"{camera_id}/{file}"
    if re.match(RECORDING_FILE_PATTERN, file) is None:
        return error_response(
            422, f"bad recording name {name!r}: <camera_id>/<camera_id>_<YYYYmmdd-HHMMSS-mmm>.mp4|avi",
            ErrorCode.INVALID_PARAMS,
        )
    if RECORDING_RE.match(name) is None:  # a well-formed name of another camera's recording: not this camera's
        return error_response(404, f"camera {camera_id!r} has no recording {file!r} (its recordings are named "
                              f"{camera_id}_<YYYYmmdd-HHMMSS-mmm>.mp4|avi)", ErrorCode.NOT_FOUND)  # fmt: skip
    return await _stream(request, agent_id, playback_path(name), "cctv:play", name,
                         {"t": f"{t:g}", "speed": f"{speed:g}"})  # fmt: skip


#: The paths a ticket may be minted for (the routes above, percent-decoded).
VIDEO_PATH = re.compile(
    r"^/api/cctv/[A-Za-z0-9_-]{1,64}/(cameras/[A-Za-z0-9][A-Za-z0-9_-]{0,31}/(live|snapshot)"
    r"|recordings/[A-Za-z0-9][A-Za-z0-9_-]{0,31}/[A-Za-z0-9_.-]{1,128}/play)$"
)


class TicketRequest(BaseModel):
    """``POST /api/cctv/tickets`` body."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        max_length=512, json_schema_extra={"pattern": VIDEO_PATH.pattern},
        description="the video path it opens, e.g. /api/cctv/pc-1/cameras/door/live (percent-escapes are decoded)",
    )

    @field_validator("path")
    @classmethod
    def _video_path(cls, v: str) -> str:
        if VIDEO_PATH.match(unquote(v)) is None:
            raise ValueError("not an LMS video path (.../cameras/{id}/live|snapshot or .../recordings/.../play)")
        return v


@tickets_router.post("/tickets")
async def mint_ticket(body: TicketRequest, request: Request, principal: ViewerDep) -> dict[str, Any]:
    """A short-lived ticket for one video path (for ``<img src>``, which cannot send the token in a header)."""
    require_cameras(principal)
    tickets: VideoTickets = request.app.state.video_tickets
    ticket = tickets.mint(principal, body.path)
    return {"success": True, "data": {
        "ticket": ticket.ticket, "url": f"{body.path}?ticket={ticket.ticket}", "expires_at": ticket.expires_at,
        "expires_in_s": tickets.ttl_s,
    }}  # fmt: skip


def install(app: Any, services: Any) -> None:
    """Add the routes and the app's :class:`CctvProxy` (servers on 0.0.0.0 are reached at the agent's address)."""

    def address_of(agent_id: str) -> str | None:
        view = services.registry.get(agent_id)
        return None if view is None else (view.ip_address or view.hostname)

    app.state.cctv_proxy = CctvProxy(services.router, address_of=address_of)
    app.state.video_tickets = VideoTickets()
    app.include_router(tickets_router)
    app.include_router(router)
