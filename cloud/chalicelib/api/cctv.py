"""CCTV management: camera configurations per agent, the events log, each camera's latest status, and snapshots of a
camera to the media bucket.

``GET /api/cctv/agents/{agent_id}/cameras`` · ``GET|PUT|DELETE /api/cctv/agents/{agent_id}/cameras/{camera_id}``
· ``GET /api/cctv/agents/{agent_id}/status`` · ``GET /api/cctv/events?agent_id=|day=&limit=&cursor=``
· ``POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot`` (the JPEG goes to the media bucket)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_int, query_since, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.repositories.change_mark import Area
from shared.topics import ID_PATTERN

if TYPE_CHECKING:
    from chalicelib.api.bodies.cctv import CameraConfigBody, SnapshotBody

DAY_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

api = Router(__name__, tag="cctv")


@api.route("GET", "/api/cctv/agents/{agent_id}/cameras", Access.VIEWER, Scope.SITE, "An agent's camera configurations")
def list_cameras(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().cctv.cameras(agent_id, call.principal))


@api.route("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.VIEWER, Scope.SITE,
           "One camera configuration")
def get_camera(call: Call[None], agent_id: str, camera_id: str) -> Response:
    return ok(container.get().cctv.camera(agent_id, camera_id, call.principal))


@api.route("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR, Scope.SITE,
           "Create or replace a camera configuration", body="CameraConfigBody", responses={"201": "created"},
           audit="cctv.camera.put", links=tuple(
               Link(status, method, "/api/cctv/agents/{agent_id}/cameras/{camera_id}",
                    {"agent_id": "$request.path.agent_id", "camera_id": "$request.path.camera_id"})
               for status in ("200", "201") for method in ("GET", "DELETE")))
def put_camera(call: Call[CameraConfigBody], agent_id: str, camera_id: str) -> Response:
    config, created = container.get().cctv.put_camera(agent_id, camera_id, call.body.model_dump(), call.principal)
    return ok(config, 201 if created else 200)


@api.route("DELETE", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR, Scope.SITE,
           "Delete a camera configuration", audit="cctv.camera.delete")
def delete_camera(call: Call[None], agent_id: str, camera_id: str) -> Response:
    container.get().cctv.delete_camera(agent_id, camera_id, call.principal)
    return ok({"agent_id": agent_id, "camera_id": camera_id, "deleted": True})


@api.route("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot", Access.OPERATOR, Scope.SITE,
           "Have the agent upload one JPEG of the camera to the media bucket (presigned PUT)", body="SnapshotBody",
           body_optional=True, responses={"202": "the command is stored and sent; get_url serves the JPEG once it "
                                                 "has succeeded", "503": "no media bucket"}, audit="cctv.snapshot")
def request_snapshot(call: Call[SnapshotBody], agent_id: str, camera_id: str) -> Response:
    requested = container.get().cctv_snapshots.request(agent_id, camera_id, call.principal,
                                                       get_expires_s=call.body.get_expires_s)
    return ok(requested.to_dict(), 202)


@api.route("GET", "/api/cctv/agents/{agent_id}/status", Access.VIEWER, Scope.SITE,
           "Latest status of an agent's cameras")
def camera_status(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().cctv.status(agent_id, call.principal))


@api.route("GET", "/api/cctv/events", Access.VIEWER, Scope.LIST,
           "Events log: an agent's (?agent_id=) or a day's (?day=, default today); ?since=: only newer ones",
           query=(Query("agent_id", "this agent's events (newest first)", pattern=ID_PATTERN),
                  Query("day", "the events of this day (UTC; default: today)", pattern=DAY_PATTERN),
                  limit(100), CURSOR,
                  Query("since", "only events newer than this (epoch seconds)", kind="number", minimum=0,
                        maximum=1e11)),
           etag=(Area.EVENTS,))
def list_events(call: Call[None]) -> Response:
    request = call.request
    agent_id, day = query_str(request, "agent_id"), query_str(request, "day")
    page = container.get().cctv.events(call.principal, agent_id=agent_id, day=day,
                                       limit=query_int(request, "limit", 100), cursor=query_str(request, "cursor"),
                                       since=query_since(request))
    return ok(page.to_dict("events", lambda event: event.to_dict()))
