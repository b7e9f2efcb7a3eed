"""Batch commands, command history (``command_logs``) and the offline command queue."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from edge.lms.agents import LABEL_PATTERN, GroupError
from edge.lms.api.authentication import OperatorDep, require_viewer
from edge.lms.api.command_requests import MAX_QUEUE_TTL_S, OnSiteCommand, check_command
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY, RowId
from edge.lms.api.services import ServicesDep
from edge.lms.commands import AccessError, Target
from shared.errors import CommandError, ErrorCode
from shared.messages.command import COMMAND_NAME_PATTERN, MAX_TIMEOUT_S

router = APIRouter(prefix="/api/commands", tags=["commands"], dependencies=[Depends(require_viewer)])

MAX_BATCH_IDS = 10_000


def _exactly_one_schema(schema: dict[str, Any]) -> None:
    """The document says what :meth:`TargetBody._exactly_one` checks: one key, not null, ``all`` only ``true``."""
    properties = schema["properties"]
    for name in ("ids", "group", "tag"):
        options = [s for s in properties[name].pop("anyOf") if s.get("type") != "null"]
        properties[name].update(options[0])
        properties[name].pop("default", None)
    properties["all"] = {"const": True, "title": "All"}
    schema["minProperties"] = schema["maxProperties"] = 1


class TargetBody(BaseModel):
    """Exactly one of ``ids``, ``group``, ``tag`` or ``all: true``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one_schema)

    ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_BATCH_IDS)
    group: str | None = Field(default=None, pattern=LABEL_PATTERN)
    tag: str | None = Field(default=None, pattern=LABEL_PATTERN)
    all: StrictBool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = sum(x is not None for x in (self.ids, self.group, self.tag)) + int(self.all)
        if given != 1:
            raise ValueError("give exactly one of ids, group, tag or all=true")
        return self


class BatchRequest(OnSiteCommand):
    """``POST /api/commands/batch`` body."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=64, description=f"a catalogue command ({COMMAND_NAME_PATTERN})")
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    target: TargetBody
    concurrency: int = Field(default=256, ge=1, le=10_000, description="commands in flight at once")
    queue_if_offline: StrictBool = Field(default=False, description="queue for offline agents instead of failing them")
    queue_ttl_s: float | None = Field(default=None, gt=0, le=MAX_QUEUE_TTL_S)


@router.post("/batch", response_model=None, responses=errors(404))
async def batch(body: BatchRequest, services: ServicesDep, principal: OperatorDep) -> dict[str, Any] | JSONResponse:
    t = body.target
    try:
        check_command(body.command, body.params)
    except CommandError as exc:
        return error_response(422, exc.message, exc.code)
    try:
        data = await services.commands.batch(
            principal,
            body.command,
            body.params,
            body.timeout_s,
            Target(t.ids, t.group, t.tag, t.all),
            concurrency=body.concurrency,
            queue_if_offline=body.queue_if_offline,
            ttl_s=body.queue_ttl_s,
        )
    except AccessError as exc:
        return error_response(403, str(exc), ErrorCode.FORBIDDEN)
    except GroupError as exc:
        return error_response(
            exc.status, exc.message, ErrorCode.NOT_FOUND if exc.status == 404 else ErrorCode.BAD_PAYLOAD
        )
    # a JSONResponse skips FastAPI's jsonable_encoder (slow for thousands of per-agent results)
    return JSONResponse({"success": data["failed"] == 0, "data": data})


@router.get("")
async def history(
    services: ServicesDep,
    agent: str | None = Query(default=None, max_length=128, description="only this agent's commands"),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any]:
    await asyncio.to_thread(services.journal.flush, 2.0)  # rows are group-committed up to 50 ms late
    rows = services.journal.recent(agent, limit)
    return {"success": True, "data": {"commands": rows, "count": len(rows)}}


@router.get("/queue")
async def queued(
    services: ServicesDep,
    agent: str | None = Query(default=None, max_length=128),
    state: str | None = Query(default=None, pattern=r"^(queued|delivering|done|expired|cancelled|interrupted)$"),
    limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100,
) -> dict[str, Any]:
    rows = services.queue.entries(agent, state, limit)
    return {"success": True, "data": {"items": rows, "count": len(rows), "depth": services.queue.depth()}}


@router.delete("/queue/{item_id}", response_model=None, responses=errors(404, 409))
async def cancel(item_id: RowId, services: ServicesDep, principal: OperatorDep) -> dict[str, Any] | JSONResponse:
    if services.queue.get(item_id) is None:
        return error_response(404, f"no queued command #{item_id}", ErrorCode.NOT_FOUND)
    if not services.queue.cancel(item_id):
        return error_response(409, f"command #{item_id} is no longer queued", ErrorCode.CONFLICT)
    services.audit.record(principal.actor, principal.role.label, "queue:cancel", str(item_id), "ok")
    return {"success": True, "data": services.queue.get(item_id)}
