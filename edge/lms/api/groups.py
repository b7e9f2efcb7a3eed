"""Agent groups (named lists of agents) for batch commands."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.agents import LABEL_PATTERN, MAX_GROUP_MEMBERS, GroupError
from edge.lms.api.authentication import OperatorDep, require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.services import ServicesDep
from shared.errors import ErrorCode

router = APIRouter(prefix="/api/groups", tags=["groups"], dependencies=[Depends(require_viewer)])


class GroupBody(BaseModel):
    """``PUT /api/groups/{name}`` body: the group's complete member list."""

    model_config = ConfigDict(extra="forbid")

    agents: list[str] = Field(
        max_length=MAX_GROUP_MEMBERS, json_schema_extra={"items": {"type": "string", "pattern": LABEL_PATTERN}}
    )
    description: str | None = Field(default=None, max_length=512)


#: A group's name in a path (edge.lms.agents.groups checks it: 422 "invalid group name")
GroupName = Annotated[str, Path(description="the group's name", json_schema_extra={"pattern": LABEL_PATTERN})]


def _error(exc: GroupError) -> JSONResponse:
    return error_response(exc.status, exc.message, ErrorCode.NOT_FOUND if exc.status == 404 else ErrorCode.BAD_PAYLOAD)


@router.get("")
async def list_groups(services: ServicesDep) -> dict[str, Any]:
    groups = services.groups.groups()
    return {"success": True, "data": {"groups": groups, "count": len(groups)}}


@router.get("/{name}", response_model=None, responses=errors(404))
async def get_group(name: GroupName, services: ServicesDep) -> dict[str, Any] | JSONResponse:
    try:
        return {"success": True, "data": services.groups.group(name)}
    except GroupError as exc:
        return _error(exc)


@router.put("/{name}", response_model=None, responses=errors(404))
async def put_group(
    name: GroupName, body: GroupBody, services: ServicesDep, principal: OperatorDep
) -> dict[str, Any] | JSONResponse:
    try:
        group = services.groups.put_group(name, body.agents, body.description)
    except GroupError as exc:
        return _error(exc)
    services.audit.record(
        principal.actor, principal.role.label, "group:put", name, "ok", {"agents": len(group["agents"])}
    )
    return {"success": True, "data": group}


@router.delete("/{name}", response_model=None, responses=errors(404))
async def delete_group(name: GroupName, services: ServicesDep, principal: OperatorDep) -> dict[str, Any] | JSONResponse:
    try:
        services.groups.delete_group(name)
    except GroupError as exc:
        return _error(exc)
    services.audit.record(principal.actor, principal.role.label, "group:delete", name, "ok")
    return {"success": True, "data": {"name": name, "deleted": True}}
