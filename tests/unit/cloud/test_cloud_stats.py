"""Statistics per tenant and per site: online/offline, sites reporting, command success rates, sync freshness."""

from __future__ import annotations

from chalicelib import container
from tests.unit.cloud.cloud_testkit import Cloud, online


def test_tenant_and_site_statistics(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1"), online("a2"), {"agent_id": "a3", "status": "offline"}])
    cloud.heartbeat("s2", [online("b1")])
    cloud.post("/api/sync", {"client_uuid": "c1", "courses": [], "schedule_entries": []}, role=None)
    cloud.post("/api/clients/register", {"uuid": "c2", "name": "", "api_url": ""}, role=None)

    ok_cmd = cloud.post("/api/commands", {"agent_ids": ["a1", "b1"], "command": "ping"}).json_body["data"]
    bad_cmd = cloud.post("/api/commands", {"agent_id": "a2", "command": "ping"}).json_body["data"]
    cloud.results("s1", [{"request_id": ok_cmd["command_id"], "agent_id": "a1", "status": "succeeded"},
                         {"request_id": bad_cmd["command_id"], "agent_id": "a2", "status": "failed", "error": "x"}])
    cloud.results("s2", [{"request_id": ok_cmd["command_id"], "agent_id": "b1", "status": "succeeded"}])
    cloud.post("/api/commands", {"agent_id": "a1", "command": "ping"})  # still pending: not counted

    stats = cloud.get("/api/stats", role="viewer").json_body["data"]
    assert stats["sites"] == {"total": 2, "reporting": 2, "stale": 0}
    assert stats["agents"] == {"total": 4, "online": 3, "offline": 1}
    commands = stats["commands"]
    assert (commands["finished"], commands["succeeded"], commands["failed"]) == (3, 2, 1)
    assert commands["success_rate"] == 2 / 3
    assert stats["clients"]["total"] == 2 and stats["clients"]["within_1h"] == 1 and stats["clients"]["never"] == 1

    site = cloud.get("/api/stats/sites/s1").json_body["data"]
    assert site["agents"] == {"total": 3, "online": 2, "offline": 1}
    assert (site["commands"]["succeeded"], site["commands"]["failed"]) == (1, 1)
    assert site["reporting"] is True and site["heartbeat_age_s"] == 0

    cloud.clock.advance(600)
    assert cloud.get("/api/stats").json_body["data"]["sites"]["stale"] == 2
    assert cloud.get("/api/stats/sites/s1").json_body["data"]["reporting"] is False
    assert cloud.get("/api/stats/sites/nope").status_code == 404
    assert cloud.get("/api/stats?days=0").status_code == 400

    scoped = container.get().tokens.create("viewer", "s2 viewer", site_ids=["s2"]).secret
    cloud.tokens["scoped"] = scoped
    mine = cloud.get("/api/stats", role="scoped").json_body["data"]
    assert mine["agents"]["total"] == 1 and mine["commands"]["succeeded"] == 1 and "clients" not in mine
    assert cloud.get("/api/stats/sites/s1", role="scoped").status_code == 404
