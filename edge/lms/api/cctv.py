"""The seeds' CCTV paths (docs/seeds.md#the-lmss-local-api), each mapped onto one of the agent's ``cctv_*``
commands.

| path | command |
|---|---|
| ``GET /api/cctv/{uuid}/state`` | ``cctv_get_all_states`` |
| ``GET /api/cctv/{uuid}/cameras`` | ``cctv_detect_cameras`` |
| ``POST /api/cctv/{uuid}/cameras`` (camera object) | ``cctv_add_camera`` |
| ``DELETE /api/cctv/{uuid}/cameras/{camera_id}`` | ``cctv_remove_camera`` ``{camera_id}`` |
| ``POST /api/cctv/{uuid}/control`` ``{action, camera_id, ...}`` | ``cctv_<action>`` (start/stop recording/streaming) |
| ``GET /api/cctv/{uuid}/storage`` | ``cctv_get_storage_info`` |
| ``POST /api/cctv/{uuid}/storage/cleanup`` ``{...}`` | ``cctv_cleanup_storage`` |
| ``GET /api/cctv/{uuid}/recordings?camera_id=&limit=`` | ``cctv_get_recordings`` (cameras permission) |
| ``POST /api/cctv/{uuid}/recordings/hold`` ``{name, hold}`` | ``cctv_hold_recording`` (operator, cameras) |

Replies have the command shape; an agent without cameras answers ``not_supported`` (HTTP 200, success false).
``start_streaming`` answers add ``data.live_url``, the LMS path of the proxied stream (``api/cctv_video.py``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.api.authentication import OperatorDep, ViewerDep, require_viewer
from edge.lms.api.cctv_video import require_cameras
from edge.lms.api.command_replies import reply_to
from edge.lms.api.openapi import COMMAND_RESPONSES
from edge.lms.api.path_ids import DIGITS_ONLY, AgentIdPath
from edge.lms.api.services import ServicesDep
from shared.cctv import CAMERA_ID_PATTERN, CameraConfig, CleanupStorageParams, HoldRecordingParams

router = APIRouter(prefix="/api/cctv", tags=["cctv"], dependencies=[Depends(require_viewer)])

class ControlBody(BaseModel):
    """``POST /api/cctv/{uuid}/control`` body; ``camera_id`` goes to the agent as the command's params."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["start_recording", "stop_recording", "start_streaming", "stop_streaming"]
    camera_id: str = Field(pattern=CAMERA_ID_PATTERN)


@router.get("/{uuid}/state", responses=COMMAND_RESPONSES)
async def state(agent_id: AgentIdPath, services: ServicesDep, principal: ViewerDep) -> JSONResponse:
    return await reply_to(services.commands.run(principal, agent_id, "cctv_get_all_states", {}))


@router.get("/{uuid}/cameras", responses=COMMAND_RESPONSES)
async def cameras(agent_id: AgentIdPath, services: ServicesDep, principal: ViewerDep) -> JSONResponse:
    return await reply_to(services.commands.run(principal, agent_id, "cctv_detect_cameras", {}))


@router.post("/{uuid}/cameras", responses=COMMAND_RESPONSES)
async def add_camera(
    agent_id: AgentIdPath, body: CameraConfig, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    params = body.model_dump(mode="json", exclude_unset=True)
    return await reply_to(services.commands.run(principal, agent_id, "cctv_add_camera", params))


@router.delete("/{uuid}/cameras/{camera_id}", responses=COMMAND_RESPONSES)
async def remove_camera(
    agent_id: AgentIdPath, services: ServicesDep, principal: OperatorDep,
    camera_id: str = Path(pattern=CAMERA_ID_PATTERN),
) -> JSONResponse:
    return await reply_to(services.commands.run(principal, agent_id, "cctv_remove_camera", {"camera_id": camera_id}))


@router.post("/{uuid}/control", responses=COMMAND_RESPONSES)
async def control(
    request: Request, agent_id: AgentIdPath, body: ControlBody, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    params = body.model_dump(exclude={"action"})
    reply = await reply_to(services.commands.run(principal, agent_id, f"cctv_{body.action}", params))
    if body.action == "start_streaming" and reply.status_code == 200:
        return _with_live_url(request, agent_id, body.camera_id, reply)
    return reply


def _with_live_url(request: Request, agent_id: str, camera_id: str, reply: JSONResponse) -> JSONResponse:
    """Learn the agent's video server from the answer's ``url``; add ``live_url``, the LMS's proxied path."""
    content = json.loads(bytes(reply.body))
    data = content.get("data")
    if not content.get("success") or not isinstance(data, dict):
        return reply
    if isinstance(data.get("url"), str):
        request.app.state.cctv_proxy.learn(agent_id, data["url"])
    data["live_url"] = f"/api/cctv/{agent_id}/cameras/{camera_id}/live"
    return JSONResponse(content, status_code=reply.status_code)


@router.get("/{uuid}/storage", responses=COMMAND_RESPONSES)
async def storage(agent_id: AgentIdPath, services: ServicesDep, principal: ViewerDep) -> JSONResponse:
    return await reply_to(services.commands.run(principal, agent_id, "cctv_get_storage_info", {}))


@router.post("/{uuid}/storage/cleanup", responses=COMMAND_RESPONSES)
async def cleanup(
    agent_id: AgentIdPath, services: ServicesDep, principal: OperatorDep, body: CleanupStorageParams | None = None
) -> JSONResponse:
    params = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}
    return await reply_to(services.commands.run(principal, agent_id, "cctv_cleanup_storage", params))


@router.get("/{uuid}/recordings", responses=COMMAND_RESPONSES)
async def recordings(
    agent_id: AgentIdPath,
    services: ServicesDep,
    principal: ViewerDep,
    camera_id: str | None = Query(default=None, pattern=CAMERA_ID_PATTERN),
    limit: Annotated[int, Query(ge=1, le=5000), DIGITS_ONLY] = 500,
) -> JSONResponse:
    """The recordings (newest first) of one camera or all; their names say when, so only watchers may list them."""
    require_cameras(principal)
    params: dict[str, Any] = {"limit": limit} if camera_id is None else {"camera_id": camera_id, "limit": limit}
    return await reply_to(services.commands.run(principal, agent_id, "cctv_get_recordings", params))


@router.post("/{uuid}/recordings/hold", responses=COMMAND_RESPONSES)
async def hold(
    agent_id: AgentIdPath, body: HoldRecordingParams, services: ServicesDep, principal: OperatorDep
) -> JSONResponse:
    """Hold a recording (retention never deletes it) or release it."""
    require_cameras(principal)
    return await reply_to(services.commands.run(principal, agent_id, "cctv_hold_recording", body.model_dump()))
