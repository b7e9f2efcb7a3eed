"""Seed 002 settings management, implemented with the agent's settings commands.

Replies have the command shape ``{success, request_id, status, data, error, error_code}``: ``data`` is the
settings object (``GET /{uuid}``), the value (``GET /{uuid}/{key}``) or the agent's acknowledgement.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.api.deps import Services, ServicesDep, require_operator
from edge.lms.api.replies import command_reply

router = APIRouter(prefix="/api/settings", tags=["settings"], dependencies=[Depends(require_operator)])


class SettingValue(BaseModel):
    """``PUT /api/settings/{uuid}/{key}`` body; numbers and booleans are stored as strings (ClassTop)."""

    model_config = ConfigDict(extra="forbid")

    value: str | int | float | bool


class SettingsBatch(BaseModel):
    """``POST /api/settings/{uuid}/batch`` body."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, str | int | float | bool] = Field(min_length=1, max_length=500)


async def _run(services: Services, uuid: str, command: str, params: dict[str, Any]) -> JSONResponse:
    ticket = services.router.dispatch(uuid, command, params, source="api")
    return command_reply(ticket, await ticket.wait())


@router.get("/{uuid}")
async def get_all(uuid: str, services: ServicesDep) -> JSONResponse:
    return await _run(services, uuid, "get_all_settings", {})


@router.get("/{uuid}/{key}")
async def get_one(uuid: str, key: str, services: ServicesDep) -> JSONResponse:
    return await _run(services, uuid, "get_setting", {"key": key})


@router.put("/{uuid}/{key}")
async def set_one(uuid: str, key: str, body: SettingValue, services: ServicesDep) -> JSONResponse:
    return await _run(services, uuid, "set_setting", {"key": key, "value": body.value})


@router.post("/{uuid}/batch")
async def set_batch(uuid: str, body: SettingsBatch, services: ServicesDep) -> JSONResponse:
    return await _run(services, uuid, "update_settings_batch", {"settings": body.settings})
