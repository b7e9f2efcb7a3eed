"""Seed 002 client management: list agents, one agent, send a command and wait for its result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.api.deps import ServicesDep, require_operator
from edge.lms.api.errors import error_response
from edge.lms.api.replies import command_reply
from shared.errors import ErrorCode
from shared.messages.command import COMMAND_NAME_PATTERN, MAX_TIMEOUT_S

router = APIRouter(prefix="/api/clients", tags=["clients"], dependencies=[Depends(require_operator)])


class CommandRequest(BaseModel):
    """``POST /api/clients/{uuid}/command`` body."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=64, description=f"a catalogue command ({COMMAND_NAME_PATTERN})")
    params: dict[str, Any] = Field(default_factory=dict, description="the command's parameters (an object)")
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S, description="default: the LMS's")


@router.get("/")
async def list_clients(services: ServicesDep) -> dict[str, Any]:
    agents = [a.to_dict() for a in services.registry.agents()]
    return {"success": True, "data": {"clients": agents, "count": len(agents)}}


@router.get("/online")
async def online_clients(services: ServicesDep) -> dict[str, Any]:
    agents = [a.to_dict() for a in services.registry.agents(online_only=True)]
    return {"success": True, "data": {"clients": agents, "count": len(agents)}}


@router.get("/{uuid}", response_model=None)
async def get_client(uuid: str, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    agent = services.registry.get(uuid)
    if agent is None:
        return error_response(404, f"unknown agent {uuid!r}", ErrorCode.UNKNOWN_AGENT)
    return {"success": True, "data": agent.to_dict(with_settings=True)}


@router.post("/{uuid}/command")
async def send_command(uuid: str, body: CommandRequest, services: ServicesDep) -> JSONResponse:
    ticket = services.router.dispatch(uuid, body.command, body.params, body.timeout_s, source="api")
    response = await ticket.wait()
    return command_reply(ticket, response)
