"""Retiring agents (admin): ``POST /api/clients/{uuid}/retire`` ``{reason?}`` and ``GET /api/retired-agents``
(the archive, newest first; ``?agent_id=`` one agent's retirements). What a retirement does is
:mod:`edge.lms.agents.retirement`; every attempt is audited (``agent:retire``), refusals too."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.agents.retirement import MAX_REASON_CHARS, RetirementError
from edge.lms.api.authentication import AdminDep
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY, AgentIdPath
from edge.lms.api.services import ServicesDep
from shared.errors import ErrorCode
from shared.topics import ID_PATTERN

router = APIRouter(tags=["clients"])

_CODES = {404: ErrorCode.UNKNOWN_AGENT, 409: ErrorCode.CONFLICT, 422: ErrorCode.BAD_PAYLOAD}


class RetireBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS, description="why (kept in the archive)")


@router.post("/api/clients/{uuid}/retire", response_model=None, responses=errors(404, 409, 502, 503))
async def retire_agent(
    agent_id: AgentIdPath, services: ServicesDep, principal: AdminDep, body: RetireBody | None = None
) -> dict[str, Any] | JSONResponse:
    reason = None if body is None else body.reason
    try:
        # The broker round trips and the registry's flush block: keep them off the event loop.
        done = await asyncio.to_thread(services.retirement.retire, agent_id, by=principal.actor, reason=reason)
    except RetirementError as exc:
        services.audit.record(principal.actor, principal.role.label, "agent:retire", agent_id, f"refused: {exc}")
        code = _CODES.get(exc.status, ErrorCode.BUSY if exc.status == 503 else ErrorCode.INTERNAL)
        return error_response(exc.status, exc.message, code)
    services.audit.record(principal.actor, principal.role.label, "agent:retire", agent_id, "ok",
                          {"reason": reason, **done.to_dict()})  # fmt: skip
    return {"success": True, "data": done.to_dict()}


@router.get("/api/retired-agents")
async def retired_agents(
    services: ServicesDep,
    _principal: AdminDep,
    agent_id: str | None = Query(default=None, pattern=ID_PATTERN, description="one agent's retirements"),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any]:
    entries = services.retirement.entries(agent_id, limit)
    return {"success": True, "data": {"retired": entries, "count": len(entries)}}
