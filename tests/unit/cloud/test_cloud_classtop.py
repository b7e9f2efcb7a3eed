"""The five ClassTop sync endpoints exactly as docs/classtop.md ("HTTP sync") describes them, and the client
policies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.models import SnapshotModel
from tests.unit.cloud.cloud_testkit import Cloud, running_cloud

COURSES = [
    {"id": 1, "name": "Maths", "teacher": "Li", "color": "#6750A4", "note": None},
    {"id": 7, "name": "Physics", "teacher": "", "color": "#FF0000", "note": None},
]
ENTRIES = [
    {"id": 11, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45", "weeks": [1, 2, 3]},
    {"id": 12, "course_id": 7, "day_of_week": 5, "start_time": "10:00", "end_time": "10:45", "weeks": []},
]


def sync_body(client_uuid: str, courses: list[dict[str, Any]], entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"client_uuid": client_uuid, "courses": courses, "schedule_entries": entries}


@pytest.fixture
def open_cloud() -> Iterator[Cloud]:
    with running_cloud(client_policy="open") as cloud:
        yield cloud


@pytest.mark.parametrize("policy", ["open", "approval"])
def test_classtop_client_round_trip(policy: str) -> None:
    """Acceptance: register twice, upload, download, upload a smaller snapshot, download again."""
    client_uuid = str(uuid.uuid4())
    with running_cloud(client_policy=policy) as cloud:
        health = cloud.get("/api/health", role=None)
        assert health.status_code == 200 and health.json_body["success"] is True
        assert isinstance(health.json_body["data"], dict)

        for attempt in range(2):  # the client re-registers with the same uuid at every start
            response = cloud.post("/api/clients/register", {"uuid": client_uuid, "name": "", "api_url": ""}, role=None)
            assert 200 <= response.status_code < 300
            assert response.json_body["success"] is True
            assert response.json_body["data"]["created"] is (attempt == 0)

        response = cloud.post("/api/sync", sync_body(client_uuid, COURSES, ENTRIES), role=None)
        assert response.status_code == 200
        assert response.json_body == {
            "success": True,
            "message": "Sync completed",
            "data": {"synced_courses": 2, "synced_entries": 2},
        }

        courses = cloud.get(f"/api/clients/{client_uuid}/courses", role=None).json_body
        assert courses["success"] is True
        assert courses["data"]["courses"] == [
            {"id": 1, "name": "Maths", "teacher": "Li", "location": "", "color": "#6750A4", "note": None},
            {"id": 7, "name": "Physics", "teacher": "", "location": "", "color": "#FF0000", "note": None},
        ]
        schedule = cloud.get(f"/api/clients/{client_uuid}/schedule", role=None).json_body
        assert schedule["success"] is True
        assert schedule["data"]["schedule_entries"] == ENTRIES

        # a smaller snapshot replaces the whole: ids absent from it are gone
        smaller = sync_body(client_uuid, [COURSES[1]], [{**ENTRIES[1], "weeks": None}])
        response = cloud.post("/api/sync", smaller, role=None)
        assert response.json_body["data"] == {"synced_courses": 1, "synced_entries": 1}
        courses = cloud.get(f"/api/clients/{client_uuid}/courses", role=None).json_body["data"]["courses"]
        assert [c["id"] for c in courses] == [7]
        entries = cloud.get(f"/api/clients/{client_uuid}/schedule", role=None).json_body["data"]["schedule_entries"]
        assert entries == [{**ENTRIES[1], "weeks": []}]  # weeks is a list, never null

        # empty arrays are a valid snapshot too: the client deleted everything
        response = cloud.post("/api/sync", sync_body(client_uuid, [], []), role=None)
        assert response.json_body["data"] == {"synced_courses": 0, "synced_entries": 0}
        assert cloud.get(f"/api/clients/{client_uuid}/courses", role=None).json_body["data"] == {"courses": []}

        detail = cloud.get(f"/api/clients/{client_uuid}", role="viewer").json_body["data"]
        assert detail["approval"] == ("approved" if policy == "open" else "pending")


def test_each_client_sees_only_its_own_data(open_cloud: Cloud) -> None:
    open_cloud.post("/api/sync", sync_body("c-one", COURSES, ENTRIES), role=None)
    open_cloud.post("/api/sync", sync_body("c-two", [{**COURSES[0], "name": "Art"}], []), role=None)
    one = open_cloud.get("/api/clients/c-one/courses", role=None).json_body["data"]["courses"]
    two = open_cloud.get("/api/clients/c-two/courses", role=None).json_body["data"]["courses"]
    assert [c["name"] for c in one] == ["Maths", "Physics"]
    assert [c["name"] for c in two] == ["Art"]
    assert open_cloud.get("/api/clients/c-two/schedule", role=None).json_body["data"] == {"schedule_entries": []}


def test_unknown_client_download_is_404(open_cloud: Cloud) -> None:
    response = open_cloud.get("/api/clients/nobody/courses", role=None)
    assert response.status_code == 404
    assert open_cloud.get("/api/clients/bad%20id/schedule", role=None).status_code == 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_uuid": "c1", "courses": [{"id": "one", "name": "x"}]}, "id"),
        ({"client_uuid": "c1", "courses": [{"id": 1}]}, "name"),
        ({"client_uuid": "c1", "courses": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}, "duplicate id"),
        ({"client_uuid": "c1", "schedule_entries": [{**ENTRIES[0], "day_of_week": 8}]}, "day_of_week"),
        ({"client_uuid": "c1", "schedule_entries": [{**ENTRIES[0], "start_time": "8:00"}]}, "start_time"),
        ({"client_uuid": "c1", "schedule_entries": [{**ENTRIES[0], "weeks": [101]}]}, "weeks"),
        ({"client_uuid": "bad id"}, "client_uuid"),
        ({"courses": []}, "client_uuid"),
    ],
)
def test_bad_sync_is_400_and_writes_nothing(open_cloud: Cloud, body: dict[str, Any], field: str) -> None:
    open_cloud.post("/api/sync", sync_body("c1", COURSES, ENTRIES), role=None)
    response = open_cloud.post("/api/sync", body, role=None)
    assert response.status_code == 400
    assert field in response.json_body["error"]["message"]
    courses = open_cloud.get("/api/clients/c1/courses", role=None).json_body["data"]["courses"]
    assert len(courses) == 2  # the previous snapshot is whole


def test_sync_reads_the_client_as_the_lms_does(open_cloud: Cloud) -> None:
    """One reading of the ClassTop wire for both tiers (shared/classtop_wire.py): a field the client adds one day
    is ignored, not refused; ``null`` reads as empty."""
    course = {**COURSES[0], "teacher": None, "color": None, "added_by_a_newer_client": True}
    entry = {**ENTRIES[0], "weeks": None, "extra": 1}
    response = open_cloud.post(
        "/api/sync", {"client_uuid": "c1", "courses": [course], "schedule_entries": [entry], "timestamp": 1}, role=None
    )
    assert response.status_code == 200, response.json_body
    [stored] = open_cloud.get("/api/clients/c1/courses", role=None).json_body["data"]["courses"]
    assert (stored["teacher"], stored["color"]) == ("", "")
    [entry_back] = open_cloud.get("/api/clients/c1/schedule", role=None).json_body["data"]["schedule_entries"]
    assert entry_back["weeks"] == []


def test_bad_register_and_bad_json(open_cloud: Cloud) -> None:
    assert open_cloud.post("/api/clients/register", {"uuid": "", "name": ""}, role=None).status_code == 400
    assert open_cloud.post("/api/clients/register", b"{not json", role=None).json_body["error"]["code"] == "bad_json"


def test_snapshot_over_the_size_limit_is_413_and_writes_nothing() -> None:
    with running_cloud(client_policy="open", max_snapshot_bytes=2048) as cloud:
        big = [{"id": i, "name": "x" * 100, "teacher": "", "color": "", "note": None} for i in range(30)]
        response = cloud.post("/api/sync", sync_body("c1", big, []), role=None)
        assert response.status_code == 413
        assert "courses" in response.json_body["error"]["message"]
        assert SnapshotModel.count("c1") == 0


def test_closed_policy_refuses_new_clients_but_keeps_known_ones() -> None:
    with running_cloud(client_policy="open") as cloud:
        cloud.post("/api/clients/register", {"uuid": "known", "name": "A", "api_url": ""}, role=None)
    with running_cloud(client_policy="closed") as cloud:
        response = cloud.post("/api/clients/register", {"uuid": "stranger", "name": "", "api_url": ""}, role=None)
        assert response.status_code == 403
        assert cloud.post("/api/sync", sync_body("stranger", COURSES, []), role=None).status_code == 403
        assert SnapshotModel.count("stranger") == 0


def test_approval_queue_approve_and_reject() -> None:
    with running_cloud(client_policy="approval") as cloud:
        cloud.post("/api/clients/register", {"uuid": "c1", "name": "Room 1", "api_url": ""}, role=None)
        cloud.post("/api/sync", sync_body("c2", COURSES, ENTRIES), role=None)  # sync without register: admitted
        pending = cloud.get("/api/clients?status=pending", role="viewer").json_body["data"]["clients"]
        assert [c["client_uuid"] for c in pending] == ["c1", "c2"]
        assert pending[1]["course_count"] == 2  # its data is kept while pending

        assert cloud.post("/api/clients/c1/approve", {}, role="operator").status_code == 403
        assert cloud.post("/api/clients/c1/approve", {}).json_body["data"]["approval"] == "approved"
        assert cloud.post("/api/clients/c2/reject", {}).json_body["data"]["approval"] == "rejected"
        assert cloud.post("/api/clients/nope/approve", {}).status_code == 404
        assert cloud.get("/api/clients?status=pending").json_body["data"]["clients"] == []
        assert len(cloud.get("/api/clients").json_body["data"]["clients"]) == 2
        assert cloud.get("/api/clients?status=approved").status_code == 400

        # a rejected client is refused everywhere, and its kept data is not served
        assert cloud.post("/api/sync", sync_body("c2", [], []), role=None).status_code == 403
        assert cloud.get("/api/clients/c2/courses", role=None).status_code == 403
        assert (
            cloud.post("/api/clients/register", {"uuid": "c2", "name": "", "api_url": ""}, role=None).status_code == 403
        )


def test_an_unchanged_upload_writes_nothing_until_freshness_is_due(open_cloud: Cloud) -> None:
    body = sync_body("c1", COURSES, ENTRIES)
    open_cloud.post("/api/sync", body, role=None)
    version = SnapshotModel.get("c1", "courses").version
    open_cloud.clock.advance(300)
    assert open_cloud.post("/api/sync", body, role=None).json_body["data"] == {"synced_courses": 2, "synced_entries": 2}
    assert SnapshotModel.get("c1", "courses").version == version  # nothing written
    open_cloud.clock.advance(3600)
    open_cloud.post("/api/sync", body, role=None)
    assert SnapshotModel.get("c1", "courses").version == version  # freshness: the client item alone
    assert open_cloud.get("/api/clients/c1").json_body["data"]["last_sync_at"] == open_cloud.clock.now
    changed = sync_body("c1", COURSES[:1], ENTRIES)
    open_cloud.post("/api/sync", changed, role=None)
    assert SnapshotModel.get("c1", "courses").version > version
    assert len(open_cloud.get("/api/clients/c1/courses", role=None).json_body["data"]["courses"]) == 1
