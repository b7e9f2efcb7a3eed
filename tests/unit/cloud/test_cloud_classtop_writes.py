"""What a ClassTop ``/api/sync`` writes to DynamoDB (docs/classtop.md, "What the cloud writes per sync"): an unchanged
upload writes nothing; once an hour it touches ``last_sync_at`` alone (one UpdateItem: no snapshot, no rate limit,
no audit); a change writes only the snapshot that changed, with the client item, and is audited. Recorded from the
real botocore calls on moto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.errors import StaleWrite
from chalicelib.models import ClassTopClientModel, SnapshotModel
from chalicelib.repositories.classtop_client import ClassTopClientRepository
from chalicelib.services.classtop_clients import SYNC_TOUCH_S
from tests.unit.cloud.cloud_testkit import SETTINGS, AwsCall, Cloud, around_aws_calls, running_cloud

COURSES = [{"id": 1, "name": "Maths", "teacher": "Li", "color": "#6750A4", "note": None}]
ENTRIES = [{"id": 11, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45", "weeks": [1]}]
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud(client_policy="open") as cloud:
        yield cloud


@contextmanager
def writes() -> Iterator[list[tuple[str, list[str]]]]:
    """Every DynamoDB write inside the block: (operation, the tables and keys it writes, e.g. ``client:c1``)."""
    seen: list[tuple[str, list[str]]] = []

    def record(call: AwsCall, client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb" and operation in WRITES:
            bodies = [next(iter(e.values())) for e in params.get("TransactItems", [])] or [params]
            seen.append((operation, [_what(b) for b in bodies]))
        return call(client, operation, params)

    with around_aws_calls(record):
        yield seen


def _what(body: dict[str, Any]) -> str:
    table = body.get("TableName", "?").rsplit("--", 1)[-1]
    key = body.get("Key") or body.get("Item") or {}
    first = key.get("client_uuid") or key.get("owner") or {}
    kind = key.get("kind", {}).get("S")
    return f"{table}:{first.get('S', '')}" + (f"/{kind}" if kind else "")


def sync(
    cloud: Cloud,
    courses: list[dict[str, Any]] = COURSES,
    entries: list[dict[str, Any]] = ENTRIES,
    client_uuid: str = "c1",
) -> Any:
    response = cloud.post(
        "/api/sync", {"client_uuid": client_uuid, "courses": courses, "schedule_entries": entries}, role=None
    )
    assert response.status_code == 200, response.json_body
    assert response.json_body["data"] == {"synced_courses": len(courses), "synced_entries": len(entries)}
    return response


def versions(client_uuid: str = "c1") -> dict[str, int]:
    return {kind: int(SnapshotModel.get(client_uuid, kind).version) for kind in ("courses", "schedule")}


def audited(cloud: Cloud) -> int:
    entries = cloud.get("/api/audit?limit=500").json_body["data"]["entries"]
    return sum(e["action"] == "client.sync" for e in entries)


def test_an_unchanged_upload_writes_nothing(cloud: Cloud) -> None:
    sync(cloud)
    before = versions(), audited(cloud)
    for _ in range(5):  # the client's 5-minute cycle, for 25 minutes
        cloud.clock.advance(300)
        with writes() as seen:
            sync(cloud)
        assert seen == []
    assert (versions(), audited(cloud)) == before


def test_freshness_is_one_update_of_the_client_item_an_hour(cloud: Cloud) -> None:
    sync(cloud)
    first = ClassTopClientModel.get("c1").last_sync_at
    before = versions(), audited(cloud)
    cloud.clock.advance(SYNC_TOUCH_S)
    with writes() as seen:
        sync(cloud)
    assert seen == [("UpdateItem", ["client:c1"])]  # no snapshot, no rate limit, no audit
    assert ClassTopClientModel.get("c1").last_sync_at == first + SYNC_TOUCH_S
    assert (versions(), audited(cloud)) == before
    # attack: uploading the same data again and again does not make more writes; the next hour, one more touch
    with writes() as seen:
        for _ in range(20):
            sync(cloud)
    assert seen == []
    cloud.clock.advance(SYNC_TOUCH_S)
    with writes() as seen:
        sync(cloud)
    assert seen == [("UpdateItem", ["client:c1"])]


def test_a_changed_upload_writes_the_changed_snapshot_with_the_client_and_is_audited(cloud: Cloud) -> None:
    sync(cloud)
    start, logged = versions(), audited(cloud)
    cloud.clock.advance(300)
    new_entries = [{**ENTRIES[0], "start_time": "09:00"}]
    with writes() as seen:
        sync(cloud, entries=new_entries)
    transactions = [tables for op, tables in seen if op == "TransactWriteItems"]
    assert transactions == [["snapshot:c1/schedule", "client:c1"]]  # the courses item is left as it is
    assert versions() == {"courses": start["courses"], "schedule": start["schedule"] + 1}
    assert audited(cloud) == logged + 1
    assert (
        cloud.get("/api/clients/c1/schedule", role=None).json_body["data"]["schedule_entries"][0]["start_time"]
        == "09:00"
    )
    assert cloud.get("/api/clients/c1/courses", role=None).json_body["data"]["courses"][0]["name"] == "Maths"

    cloud.clock.advance(300)
    with writes() as seen:
        sync(cloud, courses=[{**COURSES[0], "name": "Algebra"}], entries=new_entries)
    assert [t for op, t in seen if op == "TransactWriteItems"] == [["snapshot:c1/courses", "client:c1"]]
    assert cloud.get("/api/clients/c1/courses", role=None).json_body["data"]["courses"][0]["name"] == "Algebra"

    cloud.clock.advance(300)
    with writes() as seen:  # both change: both written
        sync(cloud, courses=[], entries=[])
    assert [t for op, t in seen if op == "TransactWriteItems"] == [
        ["snapshot:c1/courses", "snapshot:c1/schedule", "client:c1"]
    ]
    assert cloud.get("/api/clients/c1/courses", role=None).json_body["data"]["courses"] == []


def test_a_digest_stored_before_per_kind_digests_rewrites_both_snapshots_once(cloud: Cloud) -> None:
    """A client item written by the previous code holds one SHA-256 of both kinds: its next upload writes both
    snapshots (nothing is skipped on a digest it cannot read), and the one after writes nothing."""
    sync(cloud)
    item = ClassTopClientModel.get("c1")
    item.digest = hashlib.sha256(
        json.dumps([COURSES, ENTRIES], separators=(",", ":"), sort_keys=True).encode()
    ).hexdigest()
    item.save()
    start = versions()
    cloud.clock.advance(300)
    with writes() as seen:
        sync(cloud)
    assert [t for op, t in seen if op == "TransactWriteItems"] == [
        ["snapshot:c1/courses", "snapshot:c1/schedule", "client:c1"]
    ]
    assert all(versions()[kind] > v for kind, v in start.items())  # the client's revision: both rewritten
    cloud.clock.advance(300)
    with writes() as seen:
        sync(cloud)
    assert seen == []


def test_a_touch_on_a_client_that_moved_on_is_refused(cloud: Cloud) -> None:
    """The touch is conditional on the revision it read: it never writes over a concurrent change (a sync, an
    approval), and the service lets that pass (the item is fresh, or the next upload touches it)."""
    sync(cloud)
    repo = ClassTopClientRepository(SETTINGS.tenant)
    stale = repo.get("c1")
    assert stale is not None
    cloud.clock.advance(300)
    sync(cloud, courses=[])  # the item moves on
    with pytest.raises(StaleWrite):
        repo.touch(stale, 123.0)
    assert ClassTopClientModel.get("c1").last_sync_at != 123.0


def test_a_rejected_client_is_not_touched(cloud: Cloud) -> None:
    sync(cloud)
    assert cloud.post("/api/clients/c1/reject", {}).status_code == 200
    last = ClassTopClientModel.get("c1").last_sync_at
    cloud.clock.advance(2 * SYNC_TOUCH_S)
    with writes() as seen:
        response = cloud.post(
            "/api/sync", {"client_uuid": "c1", "courses": COURSES, "schedule_entries": ENTRIES}, role=None
        )
    assert response.status_code == 403
    assert [t for _, t in seen] == [["audit:"]]  # the refusal is audited; the client is not written
    assert ClassTopClientModel.get("c1").last_sync_at == last
