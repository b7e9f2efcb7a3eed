"""The role matrix: every route x every kind of caller (none, a site API key, viewer, operator, admin) gives the
answer documented in ``chalicelib.api.access``, and every mutating call leaves exactly one audit entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from app import app
from cloud_testkit import Cloud, iot_client, online, running_cloud

from chalicelib.api.access import ROUTES, Access, RouteDoc
from chalicelib.models import AuditModel

CAMERA = {"name": "Door", "source": 0}
CALLERS = (None, "lms", "viewer", "operator", "admin")  # rejections first, so state is untouched until a success
#: mutating routes that are machine traffic, not administration: not audited (cost; see docs/api.md)
NOT_AUDITED = {("POST", "/api/sync"), ("POST", "/api/lms/heartbeat")}


@dataclass
class Call:
    path: str
    body: Any = None
    prepare: Callable[[Cloud], None] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _camera(cloud: Cloud) -> None:
    cloud.put("/api/cctv/agents/a1/cameras/tmp", CAMERA)


CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/api/health"): Call("/api/health"),
    ("POST", "/api/clients/register"): Call("/api/clients/register", {"uuid": "c1", "name": "", "api_url": ""}),
    ("POST", "/api/sync"): Call("/api/sync", {"client_uuid": "c1", "courses": [], "schedule_entries": []}),
    ("GET", "/api/clients/{client_uuid}/courses"): Call("/api/clients/c1/courses"),
    ("GET", "/api/clients/{client_uuid}/schedule"): Call("/api/clients/c1/schedule"),
    ("GET", "/api/clients"): Call("/api/clients"),
    ("GET", "/api/clients/{client_uuid}"): Call("/api/clients/c1"),
    ("POST", "/api/clients/{client_uuid}/approve"): Call("/api/clients/c2/approve", {}),
    ("POST", "/api/clients/{client_uuid}/reject"): Call("/api/clients/c2/reject", {}),
    ("POST", "/api/lms/register"): Call("/api/lms/register", {"lms_uuid": "lms-new", "name": "n", "host": "h",
                                                              "port": 8000, "version": "1"}),
    ("POST", "/api/lms/heartbeat"): Call("/api/lms/heartbeat", {"lms_uuid": "lms-m", "client_count": 0,
                                                                "clients": []}),
    ("GET", "/api/lms"): Call("/api/lms"),
    ("GET", "/api/lms/{site_id}"): Call("/api/lms/s1"),
    ("GET", "/api/lms/{site_id}/clients"): Call("/api/lms/s1/clients"),
    ("POST", "/api/lms/{site_id}/approve"): Call("/api/lms/lms-m/approve", {}),
    ("DELETE", "/api/lms/{site_id}"): Call("/api/lms/s-gone"),
    ("POST", "/api/enrolments"): Call("/api/enrolments", {"name": "school"}),
    ("GET", "/api/agents"): Call("/api/agents"),
    ("GET", "/api/agents/{agent_id}"): Call("/api/agents/a1"),
    ("PUT", "/api/agents/{agent_id}/tags"): Call("/api/agents/a1/tags", {"tags": ["lab"]}),
    ("PUT", "/api/agents/{agent_id}/group"): Call("/api/agents/a1/group", {"group": "room-1"}),
    ("POST", "/api/agents/{agent_id}/approve"): Call("/api/agents/a1/approve", {}),
    ("POST", "/api/agents/{agent_id}/reject"): Call("/api/agents/a2/reject", {}),
    ("POST", "/api/agents/{agent_id}/move"): Call("/api/agents/a2/move", {"site_id": "s1"}),
    ("GET", "/api/agents/{agent_id}/commands"): Call("/api/agents/a1/commands"),
    ("GET", "/api/agents/{agent_id}/snapshots"): Call("/api/agents/a1/snapshots"),
    ("GET", "/api/agents/{agent_id}/settings"): Call("/api/agents/a1/settings"),
    ("PUT", "/api/agents/{agent_id}/settings"): Call("/api/agents/a1/settings", {"settings": {"volume": "30"}}),
    ("POST", "/api/commands"): Call("/api/commands", {"agent_id": "a1", "command": "ping"}),
    ("POST", "/api/control/command"): Call("/api/control/command", {"target_client": "a1", "command": "ping"}),
    ("GET", "/api/commands/{command_id}"): Call("/api/commands/CMD"),
    ("GET", "/api/cctv/agents/{agent_id}/cameras"): Call("/api/cctv/agents/a1/cameras"),
    ("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): Call("/api/cctv/agents/a1/cameras/door"),
    ("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): Call("/api/cctv/agents/a1/cameras/door", CAMERA),
    ("DELETE", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): Call("/api/cctv/agents/a1/cameras/tmp",
                                                                        prepare=_camera),
    ("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot"): Call(
        "/api/cctv/agents/a1/cameras/door/snapshot"),
    ("GET", "/api/cctv/agents/{agent_id}/status"): Call("/api/cctv/agents/a1/status"),
    ("GET", "/api/cctv/events"): Call("/api/cctv/events?agent_id=a1"),
    ("GET", "/api/stats"): Call("/api/stats"),
    ("GET", "/api/stats/sites/{site_id}"): Call("/api/stats/sites/s1"),
    ("GET", "/api/audit"): Call("/api/audit"),
}


def expected(access: Access, caller: str | None) -> int | str:
    """The documented answer: a status code, or "2xx"."""
    if access is Access.PUBLIC:
        return "2xx"
    if access is Access.ENROLMENT:
        return "2xx" if caller is None else 401
    if access is Access.LMS_KEY:
        return "2xx" if caller == "lms" else 401
    if caller in (None, "lms"):
        return 401
    rank = {"viewer": 0, "operator": 1, "admin": 2}
    return "2xx" if rank[caller] >= rank[access.value] else 403


@pytest.fixture(scope="module")
def world() -> Iterator[Cloud]:
    # presigning needs only the bucket's name (no request to S3)
    with running_cloud(client_policy="open", lms_policy="open", media_bucket="classtop-demo-media") as cloud:
        cloud.heartbeat("s1", [online("a1"), online("a2")])
        cloud.heartbeat("s-gone", [online("g1")])
        cloud.post("/api/sync", {"client_uuid": "c1", "courses": [], "schedule_entries": []}, role=None)
        cloud.post("/api/clients/register", {"uuid": "c2", "name": "", "api_url": ""}, role=None)
        lms = {"lms_uuid": "lms-m", "name": "m", "host": "h", "port": 8000, "version": "1"}
        cloud.tokens["lms"] = cloud.post("/api/lms/register", lms, role=None).json_body["data"]["api_key"]
        cloud.tokens["CMD"] = cloud.post("/api/commands", {"agent_id": "a1", "command": "ping"}).json_body[
            "data"]["command_id"]
        cloud.put("/api/cctv/agents/a1/cameras/door", CAMERA)
        iot_client().create_thing(thingName="ct-demo-s1")  # the site's thing, as enrolment makes it (shadows)
        yield cloud


def audit_count() -> int:
    return AuditModel.count("2023-11-14")  # the fake clock's day (test-only inspection)


def test_access_table_lists_exactly_the_app_routes() -> None:
    documented = {(r.method, r.path) for r in ROUTES}
    actual = {(method, path) for path, entries in app.routes.items() for method in entries}
    assert documented == actual
    assert set(CALLS) == actual


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_role_matrix(world: Cloud, route: RouteDoc) -> None:
    call = CALLS[(route.method, route.path)]
    path = call.path.replace("CMD", world.tokens["CMD"])
    audited = route.method != "GET" and (route.method, route.path) not in NOT_AUDITED
    for caller in CALLERS:
        if call.prepare is not None:
            call.prepare(world)
        answer = expected(route.access, caller)
        before = audit_count()
        response = world.request(route.method, path, call.body, role=caller)
        got = response.status_code
        assert (200 <= got < 300) if answer == "2xx" else got == answer, (caller, got, response.json_body)
        assert audit_count() - before == (1 if audited else 0), caller  # every mutating call, refused ones too
