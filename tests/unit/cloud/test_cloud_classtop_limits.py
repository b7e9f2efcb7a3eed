"""Issue 11 item 11: the cloud's ClassTop ``/api/sync`` (no credentials, by the ClassTop contract) is rate-limited
and audited. The attacker knows an approved client's uuid and uploads timetables for it, again and again; the real
client keeps syncing its unchanged snapshot every 5 minutes."""

from __future__ import annotations

import uuid
from typing import Any

from tests.unit.cloud.cloud_testkit import Cloud, running_cloud

COURSE = {"id": 1, "name": "Maths", "teacher": "Li", "color": "#6750A4", "note": None}
ENTRY = {"id": 11, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45", "weeks": [1]}


def sync(cloud: Cloud, client_uuid: str, name: str = "Maths") -> Any:
    body = {"client_uuid": client_uuid, "courses": [{**COURSE, "name": name}], "schedule_entries": [ENTRY]}
    return cloud.post("/api/sync", body, role=None)


def stored_name(cloud: Cloud, client_uuid: str) -> str:
    name: str = cloud.get(f"/api/clients/{client_uuid}/courses", role=None).json_body["data"]["courses"][0]["name"]
    return name


def sync_entries(cloud: Cloud) -> list[dict[str, Any]]:
    entries = cloud.get("/api/audit?limit=500").json_body["data"]["entries"]
    return [e for e in entries if e["action"] == "client.sync"]


def test_cloud_sync_is_rate_limited_and_audited() -> None:
    client = str(uuid.uuid4())
    with running_cloud(client_policy="approval") as cloud:
        assert cloud.post("/api/clients/register", {"uuid": client, "name": "", "api_url": ""}, role=None) \
            .status_code == 200
        assert cloud.post(f"/api/clients/{client}/approve", {}).status_code == 200
        assert sync(cloud, client).status_code == 200
        # the real client: the same snapshot every 5 minutes costs no write, no audit entry, no allowance
        for _ in range(30):
            cloud.clock.advance(60)
            response = sync(cloud, client)
            assert response.status_code == 200 and response.json_body["data"] == {"synced_courses": 1,
                                                                                  "synced_entries": 1}
        # someone who learned the uuid overwrites the timetable: each change is allowed up to the limit ...
        for n in range(19):
            assert sync(cloud, client, f"overwrite {n}").status_code == 200
        assert stored_name(cloud, client) == "overwrite 18"
        # ... and over it refused with a clear 429 that writes nothing
        over = sync(cloud, client, "one too many")
        assert over.status_code == 429, over.json_body
        error = over.json_body["error"]
        assert error["code"] == "rate_limited" and client in error["message"] and "nothing was written" in \
            error["message"] and 0 < error["retry_after_s"] <= 3600
        assert stored_name(cloud, client) == "overwrite 18"
        assert sync(cloud, client, "overwrite 18").status_code == 200  # the stored snapshot again: no write

        # every upload that changed the timetable, and the refused one, is audited with its source address
        entries = sync_entries(cloud)  # (entries of one instant have no order: compare them sorted)
        assert sorted((e["status"], e["result"]) for e in entries) == [(200, "ok")] * 20 + [(429, "rate_limited")]
        for entry in entries:
            assert entry["actor"] == f"client:{client}" and entry["role"] is None
            assert entry["target"] == f"/api/sync client_uuid={client} from=127.0.0.1 courses=1 entries=1"

        # the next window allows changes again
        cloud.clock.advance(3600)
        assert sync(cloud, client, "new term").status_code == 200
        assert stored_name(cloud, client) == "new term"


def test_cloud_sync_is_rate_limited_per_source_address() -> None:
    with running_cloud(client_policy="open", sync_writes_per_source=3) as cloud:
        clients = [str(uuid.uuid4()) for _ in range(4)]
        for client in clients[:3]:
            assert sync(cloud, client).status_code == 200
        # a fourth uuid from the same address: refused, and not even created
        over = sync(cloud, clients[3])
        assert over.status_code == 429 and "this address" in over.json_body["error"]["message"]
        assert cloud.get(f"/api/clients/{clients[3]}").status_code == 404
        # unchanged uploads of the admitted clients still answer 200
        assert all(sync(cloud, client).status_code == 200 for client in clients[:3])


def test_refused_and_rejected_syncs_are_audited() -> None:
    client = str(uuid.uuid4())
    with running_cloud(client_policy="open") as cloud:
        assert sync(cloud, client).status_code == 200
        assert cloud.post(f"/api/clients/{client}/reject", {}).status_code == 200
        assert sync(cloud, client, "changed").status_code == 403
        assert sorted((e["status"], e["result"]) for e in sync_entries(cloud)) == [(200, "ok"), (403, "forbidden")]
