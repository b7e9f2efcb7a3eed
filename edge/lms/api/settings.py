"""The seeds' settings management (docs/seeds.md#the-lmss-local-api), implemented with the agent's settings
commands.

Replies have the command shape ``{success, request_id, status, data, error, error_code}``: ``data`` is the
settings object (``GET /{uuid}``), the value (``GET /{uuid}/{key}``) or the agent's acknowledgement.
Writes to an agent the LMS knows but shows offline are queued (202 ``queued``) and applied when it comes
back ("now, or when the agent comes back": docs/seeds.md#how-data-moves).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edge.lms.api.authentication import OperatorDep, ViewerDep, require_viewer
from edge.lms.api.command_replies import reply_to
from edge.lms.api.openapi import COMMAND_RESPONSES
from edge.lms.api.path_ids import AgentIdPath
from edge.lms.api.services import ServicesDep
from shared.commands import SETTING_KEY_PATTERN, SETTINGS_SCHEMA, setting_value_schema

router = APIRouter(prefix="/api/settings", tags=["settings"], dependencies=[Depends(require_viewer)])


#: A setting's key in a path (the agent's own rule, shared.commands.SETTING_KEY_PATTERN: 422 invalid_params).
KeyPath = Annotated[str, Path(description="the setting's key", json_schema_extra={"pattern": SETTING_KEY_PATTERN})]
#: A setting's value: numbers and booleans are stored as strings (ClassTop).
Value = str | int | float | bool


class SettingValue(BaseModel):
    """``PUT /api/settings/{uuid}/{key}`` body; numbers and booleans are stored as strings (ClassTop)."""

    model_config = ConfigDict(extra="forbid")

    value: Value = Field(json_schema_extra=setting_value_schema)


class SettingsBatch(BaseModel):
    """``POST /api/settings/{uuid}/batch`` body."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[Annotated[str, StringConstraints(pattern=SETTING_KEY_PATTERN)], Value] = Field(
        min_length=1, max_length=500, json_schema_extra=SETTINGS_SCHEMA
    )


@router.get("/{uuid}", responses=COMMAND_RESPONSES)
async def get_all(agent_id: AgentIdPath, services: ServicesDep, principal: ViewerDep) -> JSONResponse:
    return await reply_to(services.commands.run(principal, agent_id, "get_all_settings", {}))


@router.get("/{uuid}/{key}", responses=COMMAND_RESPONSES)
async def get_one(agent_id: AgentIdPath, key: KeyPath, services: ServicesDep, principal: ViewerDep) -> JSONResponse:
    return await reply_to(services.commands.run(principal, agent_id, "get_setting", {"key": key}))


@router.put("/{uuid}/{key}", responses=COMMAND_RESPONSES)
async def set_one(
    agent_id: AgentIdPath, key: KeyPath, body: SettingValue, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    return await reply_to(services.commands.run(
        principal, agent_id, "set_setting", {"key": key, "value": body.value}, queue_if_offline=True
    ))


@router.post("/{uuid}/batch", responses=COMMAND_RESPONSES)
async def set_batch(
    agent_id: AgentIdPath, body: SettingsBatch, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    return await reply_to(services.commands.run(
        principal, agent_id, "update_settings_batch", {"settings": body.settings}, queue_if_offline=True
    ))
