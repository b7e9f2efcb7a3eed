"""Seed 002 client management: list agents, one agent, send a command; plus tags and metrics history."""

from __future__ import annotations

from typing import Any, Self

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.lms.agents import MAX_QUERY_LIMIT, MAX_TAGS_PER_AGENT, GroupError
from edge.lms.api.authentication import OperatorDep, require_viewer
from edge.lms.api.command_replies import run_command
from edge.lms.api.errors import error_response
from edge.lms.api.path_ids import AgentIdPath
from edge.lms.api.services import ServicesDep
from shared.errors import ErrorCode
from shared.messages.command import COMMAND_NAME_PATTERN, MAX_TIMEOUT_S

router = APIRouter(prefix="/api/clients", tags=["clients"], dependencies=[Depends(require_viewer)])

MAX_QUEUE_TTL_S = 30 * 86400.0
#: Parameters only commands from the cloud carry: ``cctv_snapshot``'s ``upload_url`` makes the agent PUT the JPEG
#: there (a presigned URL of the tenant's bucket); chosen on site it would reach anything on the agent's LAN.
CLOUD_ONLY_PARAMS = {"cctv_snapshot": ("upload_url",)}


def check_on_site_params(command: str, params: dict[str, Any]) -> None:
    """Refuse (``ValueError``) parameters an on-site command may not set."""
    for name in CLOUD_ONLY_PARAMS.get(command, ()):
        if name in params:
            raise ValueError(f"params.{name} of {command} is set by the cloud only (it sends the tenant's presigned "
                             "URLs); on site, leave it out and the JPEG comes back in the answer")  # fmt: skip


class OnSiteCommand(BaseModel):
    """A command as the LMS API takes it: the cloud-only parameters are refused (422)."""

    command: str
    params: dict[str, Any]

    @model_validator(mode="after")
    def _on_site(self) -> Self:
        check_on_site_params(self.command, self.params)
        return self


class CommandRequest(OnSiteCommand):
    """``POST /api/clients/{uuid}/command`` body."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=64, description=f"a catalogue command ({COMMAND_NAME_PATTERN})")
    params: dict[str, Any] = Field(default_factory=dict, description="the command's parameters (an object)")
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S, description="default: the LMS's")
    queue_if_offline: bool = Field(
        default=False, description="agent offline: queue the command (202) and deliver it when the agent returns"
    )
    queue_ttl_s: float | None = Field(
        default=None, gt=0, le=MAX_QUEUE_TTL_S, description="how long a queued command waits (default: the LMS's)"
    )


class TagsBody(BaseModel):
    """``PUT /api/clients/{uuid}/tags`` body: the agent's complete tag set."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(max_length=MAX_TAGS_PER_AGENT)


@router.get("/")
async def list_agents(services: ServicesDep) -> dict[str, Any]:
    agents = [a.to_dict() for a in services.registry.agents()]
    return {"success": True, "data": {"clients": agents, "count": len(agents)}}


@router.get("/online")
async def online_agents(services: ServicesDep) -> dict[str, Any]:
    agents = [a.to_dict() for a in services.registry.agents(online_only=True)]
    return {"success": True, "data": {"clients": agents, "count": len(agents)}}


@router.get("/{uuid}", response_model=None)
async def get_agent(agent_id: AgentIdPath, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    agent = services.registry.get(agent_id)
    if agent is None:
        return error_response(404, f"unknown agent {agent_id!r}", ErrorCode.UNKNOWN_AGENT)
    data = agent.to_dict(with_settings=True)
    latest = services.registry.latest_metrics(agent_id)
    data["metrics"] = latest.model_dump(mode="json", exclude_none=True) if latest is not None else None
    data["tags"] = services.groups.tags(agent_id)
    return {"success": True, "data": data}


@router.post("/{uuid}/command")
async def send_command(
    agent_id: AgentIdPath, body: CommandRequest, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    return await run_command(
        services,
        principal,
        agent_id,
        body.command,
        body.params,
        body.timeout_s,
        queue_if_offline=body.queue_if_offline,
        ttl_s=body.queue_ttl_s,
    )


@router.get("/{uuid}/tags", response_model=None)
async def get_tags(agent_id: AgentIdPath, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    if services.registry.get(agent_id) is None:
        return error_response(404, f"unknown agent {agent_id!r}", ErrorCode.UNKNOWN_AGENT)
    return {"success": True, "data": {"uuid": agent_id, "tags": services.groups.tags(agent_id)}}


@router.put("/{uuid}/tags", response_model=None)
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


@router.get("/{uuid}/metrics", response_model=None)
async def metrics_history(
    agent_id: AgentIdPath,
    services: ServicesDep,
    since: float | None = Query(default=None, ge=0, description="epoch seconds (inclusive)"),
    until: float | None = Query(default=None, ge=0, description="epoch seconds (inclusive)"),
    limit: int = Query(default=1000, ge=1, le=MAX_QUERY_LIMIT, description="at most this many (the newest)"),
) -> dict[str, Any] | JSONResponse:
    if services.registry.get(agent_id) is None:
        return error_response(404, f"unknown agent {agent_id!r}", ErrorCode.UNKNOWN_AGENT)
    if since is not None and until is not None and until < since:
        return error_response(422, "until must not be before since", ErrorCode.BAD_PAYLOAD)
    samples = services.history.query(agent_id, since=since, until=until, limit=limit)
    return {"success": True, "data": {"uuid": agent_id, "samples": samples, "count": len(samples)}}
