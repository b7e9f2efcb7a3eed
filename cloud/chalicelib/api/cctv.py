"""CCTV management: camera configurations per agent, the events log, each camera's latest status, and snapshots of a
camera to the media bucket.

``GET /api/cctv/agents/{agent_id}/cameras`` · ``GET|PUT|DELETE /api/cctv/agents/{agent_id}/cameras/{camera_id}``
· ``GET /api/cctv/agents/{agent_id}/status`` · ``GET /api/cctv/events?agent_id=|day=&limit=&cursor=``
· ``POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot`` (the JPEG goes to the media bucket)
"""

from __future__ import annotations

import re
from typing import Literal

from chalice.app import Response
from pydantic import Field, field_validator

from chalicelib import container
from chalicelib.api.http import RequestBody, ok, query_int, query_since, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.repositories.change_mark import Area
from shared.cctv import central_source_error
from shared.topics import ID_PATTERN

#: printable ASCII after the scheme (``\s`` is not the same class in Python and in JSON Schema's ECMA regexes)
URL_PATTERN = r"^(rtsp|rtsps|http|https)://[!-~]{1,2000}$"
_URL_RE = re.compile(URL_PATTERN)
SYNTHETIC_PATTERN = r"^synthetic:(moving|frozen|black)$"
_SYNTHETIC_RE = re.compile(SYNTHETIC_PATTERN)
DAY_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

api = Router(__name__, tag="cctv")


class CameraConfigBody(RequestBody):
    """``PUT /api/cctv/agents/{agent_id}/cameras/{camera_id}``: the desired configuration of one camera."""

    name: str = Field(min_length=1, max_length=128)
    #: a local device index, a stream URL or a test pattern; never a file (docs/cctv.md, "Camera configuration from
    #: the cloud"): the agent would open any file of the PC it is given
    source: int | str = Field(
        description="device index 0-63, an rtsp/http(s) URL, or synthetic:moving|frozen|black",
        json_schema_extra={"anyOf": [{"type": "integer", "minimum": 0, "maximum": 63},
                                     {"type": "string", "pattern": URL_PATTERN},
                                     {"type": "string", "pattern": SYNTHETIC_PATTERN}]},
    )
    enabled: bool = True
    width: int = Field(default=1280, ge=160, le=3840)
    height: int = Field(default=720, ge=120, le=2160)
    fps: int = Field(default=15, ge=1, le=60)
    codec: Literal["mp4v", "MJPG", "VP8"] = "mp4v"
    record: bool = False
    segment_s: int = Field(default=300, ge=10, le=3600)
    retention_days: int = Field(default=7, ge=1, le=365)

    @field_validator("source")
    @classmethod
    def _source(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 0 <= v <= 63:
            raise ValueError("a device index must be between 0 and 63")
        if isinstance(v, str) and not (_URL_RE.fullmatch(v) or _SYNTHETIC_RE.fullmatch(v)):
            raise ValueError("a URL must be rtsp://, rtsps://, http:// or https:// (or a test pattern "
                             "synthetic:moving|frozen|black); a file is set on site only")
        refused = central_source_error(v)
        if refused is not None:
            raise ValueError(refused)
        return v


class SnapshotBody(RequestBody):
    """``POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot`` (the body may be empty)."""

    get_expires_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600,
                               description="how long the returned get_url stays valid (seconds)")


@api.route("GET", "/api/cctv/agents/{agent_id}/cameras", Access.VIEWER, Scope.SITE, "An agent's camera configurations")
def list_cameras(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().cctv.cameras(agent_id, call.principal))


@api.route("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.VIEWER, Scope.SITE,
           "One camera configuration")
def get_camera(call: Call[None], agent_id: str, camera_id: str) -> Response:
    return ok(container.get().cctv.camera(agent_id, camera_id, call.principal))


@api.route("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR, Scope.SITE,
           "Create or replace a camera configuration", body=CameraConfigBody, responses={"201": "created"},
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
           "Have the agent upload one JPEG of the camera to the media bucket (presigned PUT)", body=SnapshotBody,
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
