"""``GET /api/live``: what changes on the site, pushed to an open console page (Server-Sent Events).

A viewer (the console's session cookie, as ``EventSource`` sends it, or a bearer token for scripts) chooses the
kinds it shows (``?kinds=presence,command``) and optionally one agent (``?agent=``; site-wide changes come too).
Each message has an ``id``; a page that reconnects sends ``Last-Event-ID`` (the browser does it by itself) or
``?after=`` and gets what it missed, or ``event: resync`` when the LMS no longer holds it (the page then reloads
what it shows). At most :data:`MAX_STREAMS` streams are open at once (503 beyond, and the page polls instead).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from edge.lms.api.authentication import ViewerDep
from edge.lms.api.errors import error_response
from edge.lms.api.path_ids import DIGITS_ONLY
from edge.lms.api.services import ServicesDep
from edge.lms.live import ChangeKind
from shared.errors import ErrorCode
from shared.topics import ID_PATTERN

router = APIRouter(prefix="/api", tags=["live"])
MAX_STREAMS = 500
_KINDS = ",".join(k.value for k in ChangeKind)
_KIND = "(" + "|".join(k.value for k in ChangeKind) + ")"
#: a comma-separated list of change kinds, as the document says it (so that what it allows is accepted)
_KINDS_PATTERN = f"^{_KIND}(,{_KIND})*$"


@router.get("/live", response_model=None, responses={200: {"content": {"text/event-stream": {}}}})
async def live(
    request: Request,
    services: ServicesDep,
    _principal: ViewerDep,
    kinds: str = Query(
        default=_KINDS, max_length=128, pattern=_KINDS_PATTERN, description=f"comma-separated: {_KINDS}"
    ),
    agent: str | None = Query(default=None, pattern=ID_PATTERN, description="only this agent's changes"),
    after: Annotated[int | None, Query(ge=0, le=2**62, description="resume after this message id"), DIGITS_ONLY] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> Response | JSONResponse:
    try:
        wanted = [ChangeKind(k) for k in kinds.split(",")]
    except ValueError:
        return error_response(422, f"kinds: use some of {_KINDS}", ErrorCode.INVALID_PARAMS)
    if after is None and last_event_id is not None and last_event_id.isdigit():
        after = int(last_event_id)
    feed = services.changes
    if feed.subscribers >= MAX_STREAMS:
        response = error_response(503, "too many live pages open: poll instead", ErrorCode.BUSY)
        response.headers["Retry-After"] = "30"
        return response
    return StreamingResponse(
        feed.subscribe(after=after, kinds=wanted, agent_id=agent), media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )  # fmt: skip
