"""CCTV management: camera configurations per agent, the events log, each camera's latest status.

``GET /api/cctv/agents/{agent_id}/cameras`` · ``GET|PUT|DELETE /api/cctv/agents/{agent_id}/cameras/{camera_id}``
· ``GET /api/cctv/agents/{agent_id}/status`` · ``GET /api/cctv/events?agent_id=|day=&limit=&cursor=``
· ``POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot`` (the JPEG goes to the media bucket)
"""

from __future__ import annotations

import re

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.cctv_schemas import CameraConfigBody, SnapshotBody
from chalicelib.api.http import audited, authenticate, endpoint, ok, parse_body, query_int, query_str
from chalicelib.domain.token import Role
from chalicelib.errors import BadRequest
from chalicelib.repositories.event import StoredEvent
from shared.topics import is_valid_id

bp = Blueprint(__name__)

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _ids(agent_id: str, camera_id: str | None = None) -> None:
    if not is_valid_id(agent_id):
        raise BadRequest(f"agent id: invalid {agent_id[:80]!r}")
    if camera_id is not None and not is_valid_id(camera_id):
        raise BadRequest(f"camera id: invalid {camera_id[:80]!r}")


@bp.route("/api/cctv/agents/{agent_id}/cameras", methods=["GET"])
@endpoint
def list_cameras(agent_id: str) -> Response:
    principal = authenticate(bp.current_request)
    _ids(agent_id)
    return ok(container.get().cctv.cameras(agent_id, principal))


@bp.route("/api/cctv/agents/{agent_id}/cameras/{camera_id}", methods=["GET"])
@endpoint
def get_camera(agent_id: str, camera_id: str) -> Response:
    principal = authenticate(bp.current_request)
    _ids(agent_id, camera_id)
    return ok(container.get().cctv.camera(agent_id, camera_id, principal))


@bp.route("/api/cctv/agents/{agent_id}/cameras/{camera_id}", methods=["PUT"])
@audited(bp, "cctv.camera.put")
@endpoint
def put_camera(agent_id: str, camera_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    _ids(agent_id, camera_id)
    body = parse_body(request, CameraConfigBody)
    config, created = container.get().cctv.put_camera(agent_id, camera_id, body.model_dump(), principal)
    return ok(config, 201 if created else 200)


@bp.route("/api/cctv/agents/{agent_id}/cameras/{camera_id}", methods=["DELETE"])
@audited(bp, "cctv.camera.delete")
@endpoint
def delete_camera(agent_id: str, camera_id: str) -> Response:
    principal = authenticate(bp.current_request, Role.OPERATOR)
    _ids(agent_id, camera_id)
    container.get().cctv.delete_camera(agent_id, camera_id, principal)
    return ok({"agent_id": agent_id, "camera_id": camera_id, "deleted": True})


@bp.route("/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot", methods=["POST"])
@audited(bp, "cctv.snapshot")
@endpoint
def request_snapshot(agent_id: str, camera_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    _ids(agent_id, camera_id)
    body = parse_body(request, SnapshotBody) if (request.raw_body or b"").strip() else SnapshotBody()
    requested = container.get().cctv_snapshots.request(agent_id, camera_id, principal,
                                                       get_expires_s=body.get_expires_s)
    return ok(requested.to_dict(), 202)


@bp.route("/api/cctv/agents/{agent_id}/status", methods=["GET"])
@endpoint
def camera_status(agent_id: str) -> Response:
    principal = authenticate(bp.current_request)
    _ids(agent_id)
    return ok(container.get().cctv.status(agent_id, principal))


@bp.route("/api/cctv/events", methods=["GET"])
@endpoint
def list_events() -> Response:
    request = bp.current_request
    principal = authenticate(request)
    agent_id, day = query_str(request, "agent_id"), query_str(request, "day")
    if agent_id is not None:
        _ids(agent_id)
    if day is not None and not _DAY_RE.match(day):
        raise BadRequest("day: YYYY-MM-DD")
    page = container.get().cctv.events(principal, agent_id=agent_id, day=day,
                                       limit=query_int(request, "limit", 100), cursor=query_str(request, "cursor"))
    return ok(page.to_dict("events", StoredEvent.to_dict))
