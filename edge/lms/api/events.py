"""Agent events (``edge.lms.events.agent_events``): the stored events, the progress of running commands, process lists.

| path | answer |
|---|---|
| ``GET /api/events?agent=&kind=&severity=&since=&limit=`` | stored events, newest first (``kind=cctv.``: a prefix) |
| ``GET /api/events/commands?agent=&limit=`` | the latest ``command.state`` (``queued``/``running``) per command |
| ``GET /api/clients/{uuid}/processes`` | the agent's latest ``processes`` event; 404 ``not_found`` before the first |

Viewer role.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from edge.lms.api.authentication import require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY, AgentIdPath
from edge.lms.events import AgentEvents
from shared.errors import ErrorCode
from shared.messages import Severity

router = APIRouter(tags=["events"], dependencies=[Depends(require_viewer)])

KIND_PATTERN = r"^[a-z0-9_.]{1,64}\*?$"
SEVERITY_QUERY = Query(default=None, description="this severity or worse")


def _events(request: Request) -> AgentEvents:
    events: AgentEvents = request.app.state.events
    return events


@router.get("/api/events")
async def events(
    request: Request,
    agent: str | None = Query(default=None, max_length=64, description="only this agent's events"),
    kind: str | None = Query(default=None, pattern=KIND_PATTERN, description="a kind; ending in . or * a prefix"),
    severity: Severity | None = SEVERITY_QUERY,
    since: float | None = Query(default=None, ge=0, description="events at or after this time (epoch s)"),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any]:
    store = _events(request)
    await asyncio.to_thread(store.flush, 2.0)  # events are written in batches, up to half a second late
    rows = await asyncio.to_thread(
        store.recent, agent_id=agent, kind=kind, since=since, severity=severity, limit=limit
    )
    return {"success": True, "data": {"events": rows, "count": len(rows)}}


@router.get("/api/events/commands")
async def command_states(
    request: Request,
    agent: str | None = Query(default=None, max_length=64),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any]:
    rows = _events(request).progress.recent(agent, limit)
    return {"success": True, "data": {"commands": rows, "count": len(rows)}}


@router.get("/api/clients/{uuid}/processes", response_model=None, responses=errors(404))
async def processes(request: Request, agent_id: AgentIdPath) -> dict[str, Any] | JSONResponse:
    data = _events(request).processes(agent_id)
    if data is None:
        return error_response(404, f"no process list from {agent_id} yet (sent every [processes] interval_s; "
                              "get_processes asks now)", ErrorCode.NOT_FOUND)
    return {"success": True, "data": data}


def install(app: Any, services: Any, events: AgentEvents | None) -> None:
    """Add the routes; without a running ``events`` service a query-only one over the store is used."""
    app.state.events = events or AgentEvents(
        services.store, namespace=services.config.namespace, site_id=services.config.site_id
    )
    app.include_router(router)
