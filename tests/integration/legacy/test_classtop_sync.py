"""The five ClassTop HTTP sync endpoints on the real LMS, driven exactly as the client drives them
(docs/classtop.md, "HTTP sync"): no credentials, register twice, upload, download, smaller upload, download."""

from __future__ import annotations

import sqlite3
import time
import uuid as uuidlib
from typing import Any

import httpx
import pytest

from shared.messages import Event, encode
from shared.topics import AgentUp
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import LmsProcess, SimAgent, eventually

pytestmark = pytest.mark.integration

COURSES = [
    {"id": 1, "name": "数学", "teacher": "王老师", "color": "#6750A4", "note": None},
    {"id": 2, "name": "English", "teacher": "Ms. Li", "color": "#00AA00", "note": None},
    {"id": 7, "name": "Physics", "teacher": "", "color": "#123456", "note": None},
]
ENTRIES = [
    {"id": 10, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45", "weeks": [1, 2, 3]},
    {"id": 11, "course_id": 2, "day_of_week": 3, "start_time": "10:00", "end_time": "10:45", "weeks": []},
    {"id": 12, "course_id": 7, "day_of_week": 5, "start_time": "14:00", "end_time": "14:45", "weeks": [2, 4]},
]


def _ok(r: httpx.Response) -> dict[str, Any]:
    assert 200 <= r.status_code < 300, r.text
    body: dict[str, Any] = r.json()
    assert body["success"] is True
    assert isinstance(body.get("data", {}), dict)
    return body


def test_sync_endpoints_as_documented(lms: LmsProcess) -> None:
    client_uuid = str(uuidlib.uuid4())
    with httpx.Client(base_url=lms.base_url, timeout=10.0) as anon:  # no Authorization header, like ClassTop
        health = _ok(anon.get("/api/health"))
        assert isinstance(health["data"], dict) and health["data"]["status"] in ("ok", "degraded")
        for _ in range(2):  # the client re-registers with the same uuid at every start
            _ok(anon.post("/api/clients/register", json={"uuid": client_uuid, "name": "", "api_url": ""}))

        sync = _ok(anon.post("/api/sync", json={"client_uuid": client_uuid, "courses": COURSES,
                                                "schedule_entries": ENTRIES}))  # fmt: skip
        assert sync["data"] == {"synced_courses": 3, "synced_entries": 3}
        courses = _ok(anon.get(f"/api/clients/{client_uuid}/courses"))["data"]["courses"]
        assert courses == [{**c, "location": ""} for c in COURSES]
        entries = _ok(anon.get(f"/api/clients/{client_uuid}/schedule"))["data"]["schedule_entries"]
        assert entries == ENTRIES

        # a smaller snapshot: absent ids are deleted, changed ones replaced
        smaller = [{**COURSES[0], "teacher": "张老师"}]
        sync = _ok(anon.post("/api/sync", json={"client_uuid": client_uuid, "courses": smaller,
                                                "schedule_entries": ENTRIES[:1]}))  # fmt: skip
        assert sync["data"] == {"synced_courses": 1, "synced_entries": 1}
        courses = _ok(anon.get(f"/api/clients/{client_uuid}/courses"))["data"]["courses"]
        assert courses == [{**smaller[0], "location": ""}]
        assert _ok(anon.get(f"/api/clients/{client_uuid}/schedule"))["data"]["schedule_entries"] == ENTRIES[:1]

        # empty arrays are a valid (empty) snapshot; data is an object, never null
        sync = _ok(anon.post("/api/sync", json={"client_uuid": client_uuid, "courses": [], "schedule_entries": []}))
        assert sync["data"] == {"synced_courses": 0, "synced_entries": 0}
        assert _ok(anon.get(f"/api/clients/{client_uuid}/courses"))["data"] == {"courses": []}
        # a client never seen: empty lists, not an error
        assert _ok(anon.get(f"/api/clients/{uuidlib.uuid4()}/schedule"))["data"] == {"schedule_entries": []}

        # bad uploads are refused with a clear error and leave the stored snapshot untouched
        _ok(anon.post("/api/sync", json={"client_uuid": client_uuid, "courses": COURSES, "schedule_entries": []}))
        dup = anon.post("/api/sync", json={"client_uuid": client_uuid, "courses": [COURSES[0], COURSES[0]],
                                           "schedule_entries": []})  # fmt: skip
        assert dup.status_code == 422 and "duplicate id" in dup.json()["error"]
        bad_day = anon.post("/api/sync", json={"client_uuid": client_uuid, "courses": [],
                                               "schedule_entries": [{**ENTRIES[0], "day_of_week": 9}]})  # fmt: skip
        assert bad_day.status_code == 422 and bad_day.json()["error_code"] == "bad_payload"
        assert anon.post("/api/sync", content=b"{not json", headers={"content-type": "application/json"}
                         ).status_code == 400  # fmt: skip
        assert len(_ok(anon.get(f"/api/clients/{client_uuid}/courses"))["data"]["courses"]) == 3

        # the rest of the LMS API stays protected, and the operators' paths still answer them
        assert anon.get("/api/clients/").status_code == 401
        assert anon.get(f"/api/clients/{client_uuid}").status_code == 401
        assert anon.post(f"/api/clients/{client_uuid}/command", json={"command": "ping"}).status_code == 401
    assert lms.http.get("/api/clients/").status_code == 200
    assert lms.http.get("/api/clients/register").json()["error_code"] == "unknown_agent"


def test_agent_classtop_snapshot_lands_in_the_same_store(lms: LmsProcess, module_broker: Broker) -> None:
    agent = SimAgent(module_broker, "agent-2").start()
    try:
        lms.wait_agent("agent-2")

        def snapshot(version: int, courses: list[dict[str, Any]]) -> None:
            data = {"epoch": "e1", "version": version, "hash": f"h{version}", "updated_at": time.time(),
                    "source": "test", "courses": courses, "schedule_entries": []}  # fmt: skip
            event = Event(timestamp=time.time(), kind="classtop.snapshot", data=data)
            agent.publish(AgentUp.EVENT, encode(event))

        def names() -> list[str]:  # read beside the running LMS (WAL): the anonymous paths refuse an agent's id
            with sqlite3.connect(lms.workdir / "lms.db") as db:
                rows = db.execute("SELECT name FROM classtop_courses WHERE client_uuid = 'agent-2' ORDER BY id")
                return [r[0] for r in rows]

        snapshot(2, [{**COURSES[0], "location": "A101"}])
        eventually(lambda: names() == ["数学"], what="snapshot v2 applied")
        snapshot(1, [COURSES[1]])  # older: ignored
        snapshot(3, [COURSES[2]])  # newer: applied (after the older one, so that one was seen and skipped)
        eventually(lambda: names() == ["Physics"], what="snapshot v3 applied")
        assert lms.http.get("/api/clients/agent-2").json()["data"]["kind"] == "agent"
        assert httpx.get(f"{lms.base_url}/api/clients/agent-2/courses", timeout=5.0).status_code == 403
    finally:
        agent.stop()
