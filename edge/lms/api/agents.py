"""The seed's client management (``/api/clients``: the site's agents): list agents, one agent, send a command; plus
tags and metrics history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.agents import LABEL_PATTERN, MAX_QUERY_LIMIT, MAX_TAGS_PER_AGENT, GroupError
from edge.lms.api.authentication import OperatorDep, require_viewer
from edge.lms.api.command_replies import reply_to
from edge.lms.api.command_requests import CommandRequest, run_request
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import COMMAND_RESPONSES, errors
from edge.lms.api.path_ids import DIGITS_ONLY, AgentIdPath
from edge.lms.api.services import ServicesDep
from shared.errors import ErrorCode

router = APIRouter(prefix="/api/clients", tags=["clients"], dependencies=[Depends(require_viewer)])

class TagsBody(BaseModel):
    """``PUT /api/clients/{uuid}/tags`` body: the agent's complete tag set."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(
        max_length=MAX_TAGS_PER_AGENT, json_schema_extra={"items": {"type": "string", "pattern": LABEL_PATTERN}}
    )


@router.get("/")
async def list_agents(services: ServicesDep) -> dict[str, Any]:
    agents = [a.to_dict() for a in services.registry.agents()]
    return {"success": True, "data": {"clients": agents, "count": len(agents)}}


@router.get("/online")
async def online_agents(services: ServicesDep) -> dict[str, Any]:
    agents = [a.to_dict() for a in services.registry.agents(online_only=True)]
    return {"success": True, "data": {"clients": agents, "count": len(agents)}}


@router.get("/{uuid}", response_model=None, responses=errors(404))
async def get_agent(agent_id: AgentIdPath, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    agent = services.registry.get(agent_id)
    if agent is None:
        return error_response(404, f"unknown agent {agent_id!r}", ErrorCode.UNKNOWN_AGENT)
    data = agent.to_dict(with_settings=True)
    latest = services.registry.latest_metrics(agent_id)
    data["metrics"] = latest.model_dump(mode="json", exclude_none=True) if latest is not None else None
    data["tags"] = services.groups.tags(agent_id)
    return {"success": True, "data": data}


@router.post("/{uuid}/command", responses=COMMAND_RESPONSES)
async def send_command(
    agent_id: AgentIdPath, body: CommandRequest, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    return await reply_to(run_request(services.commands, principal, agent_id, body))


@router.get("/{uuid}/tags", response_model=None, responses=errors(404))
async def get_tags(agent_id: AgentIdPath, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    if services.registry.get(agent_id) is None:
        return error_response(404, f"unknown agent {agent_id!r}", ErrorCode.UNKNOWN_AGENT)
    return {"success": True, "data": {"uuid": agent_id, "tags": services.groups.tags(agent_id)}}


@router.put("/{uuid}/tags", response_model=None, responses=errors(404))
async def put_tags(
    agent_id: AgentIdPath, body: TagsBody, services: ServicesDep, principal: OperatorDep
) -> dict[str, Any] | JSONResponse:
    try:
        tags = services.groups.set_tags(agent_id, body.tags)
    except GroupError as exc:
        code = ErrorCode.UNKNOWN_AGENT if exc.status == 404 else ErrorCode.BAD_PAYLOAD
        return error_response(exc.status, exc.message, code)
    services.audit.record(principal.actor, principal.role.label, "tags:set", agent_id, "ok", {"tags": tags})
    return {"success": True, "data": {"uuid": agent_id, "tags": tags}}


@router.get("/{uuid}/metrics", response_model=None, responses=errors(404))
async def metrics_history(
    agent_id: AgentIdPath,
    services: ServicesDep,
    since: float | None = Query(default=None, ge=0, description="epoch seconds (inclusive)"),
    until: float | None = Query(default=None, ge=0, description="epoch seconds (inclusive)"),
    limit: Annotated[
        int, Query(ge=1, le=MAX_QUERY_LIMIT, description="at most this many (the newest)"), DIGITS_ONLY
    ] = 1000,
) -> dict[str, Any] | JSONResponse:
    if services.registry.get(agent_id) is None:
        return error_response(404, f"unknown agent {agent_id!r}", ErrorCode.UNKNOWN_AGENT)
    if since is not None and until is not None and until < since:
        return error_response(422, "until must not be before since", ErrorCode.BAD_PAYLOAD)
    samples = services.history.query(agent_id, since=since, until=until, limit=limit)
    return {"success": True, "data": {"uuid": agent_id, "samples": samples, "count": len(samples)}}
