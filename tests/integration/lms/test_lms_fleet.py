"""Metrics history, tags and batch commands, command history, the offline queue and the CCTV paths,
against the real LMS process, site broker and simulated agents."""

from __future__ import annotations

import sqlite3
import time

import pytest

from shared.messages import Metrics
from shared.topics import AgentUp
from tests.integration.lms.lms_harness import AgentFactory, LmsFactory, eventually

pytestmark = pytest.mark.integration


def metrics(ts: float, cpu: float) -> Metrics:
    return Metrics(timestamp=ts, cpu_percent=cpu, mem_total=8_000_000, mem_used=2_000_000, mem_percent=25.0)


def test_metrics_history_latest_sample_and_prometheus(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    for i in range(5):
        agent.publish(AgentUp.METRICS, metrics(1000.0 + i, 10.0 + i).model_dump_json().encode())
    agent.publish(AgentUp.METRICS, b'{"type": "metrics", "cpu_percent": 900}')  # bad: dropped, not stored

    def stored() -> list[dict[str, float]] | None:
        r = lms.http.get("/api/clients/agent-1/metrics")
        samples: list[dict[str, float]] = r.json()["data"]["samples"]
        return samples if len(samples) == 5 else None

    samples = eventually(stored, what="5 samples stored")
    assert [s["cpu_percent"] for s in samples] == [10.0, 11.0, 12.0, 13.0, 14.0]
    r = lms.http.get("/api/clients/agent-1/metrics", params={"since": 1001, "until": 1003, "limit": 2})
    assert [s["timestamp"] for s in r.json()["data"]["samples"]] == [1002.0, 1003.0]
    info = lms.client_info("agent-1")
    assert info is not None and info["metrics"]["cpu_percent"] == 14.0
    assert lms.http.get("/api/clients/agent-9/metrics").status_code == 404
    r = lms.http.get("/api/clients/agent-1/metrics", params={"since": 5, "until": 1})
    assert r.status_code == 422
    assert lms.http.get("/api/clients/agent-1/metrics", params={"limit": 0}).status_code == 422

    text = lms.http.get("/metrics").text
    assert 'classtop_agents{status="online"} 1.0' in text
    assert 'classtop_agent_cpu_percent{agent="agent-1"} 14.0' in text
    assert 'classtop_agent_up{agent="agent-1"} 1.0' in text

    # history survives a restart of the LMS
    assert lms.stop() == 0
    lms.start()
    assert len(lms.http.get("/api/clients/agent-1/metrics").json()["data"]["samples"]) == 5


def test_tags_groups_batch_and_command_history(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agents("agent-1").start()
    agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")
    r = lms.http.put("/api/clients/agent-1/tags", json={"tags": ["lab", "floor-1"]})
    assert r.status_code == 200 and r.json()["data"]["tags"] == ["floor-1", "lab"]
    lms.http.put("/api/clients/agent-2/tags", json={"tags": ["lab"]})
    assert lms.http.put("/api/clients/agent-1/tags", json={"tags": ["no spaces"]}).status_code == 422
    assert lms.http.put("/api/clients/agent-9/tags", json={"tags": ["lab"]}).status_code == 404
    assert lms.http.get("/api/clients/agent-1/tags").json()["data"]["tags"] == ["floor-1", "lab"]

    r = lms.http.post("/api/commands/batch", json={"command": "ping", "target": {"tag": "lab"}, "concurrency": 1})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["count"] == 2 and data["succeeded"] == 2 and r.json()["success"] is True
    assert data["results"]["agent-2"]["data"] == {"pong": True, "agent": "agent-2"}

    lms.http.put("/api/groups/room-1", json={"agents": ["agent-2", "agent-7"], "description": "room 1"})
    assert lms.http.get("/api/groups").json()["data"]["groups"][0]["agents"] == ["agent-2", "agent-7"]
    r = lms.http.post("/api/commands/batch", json={"command": "ping", "target": {"group": "room-1"}})
    results = r.json()["data"]["results"]
    assert results["agent-2"]["success"] is True
    assert results["agent-7"]["error_code"] == "unknown_agent"  # per-agent result, the batch still answers
    assert r.json()["success"] is False and r.json()["data"]["failed"] == 1

    r = lms.http.post("/api/commands/batch", json={"command": "ping", "target": {"ids": ["agent-1"], "all": True}})
    assert r.status_code == 422 and "exactly one" in r.json()["error"]
    r = lms.http.post("/api/commands/batch", json={"command": "ping", "target": {"group": "nope"}})
    assert r.status_code == 404
    # params no agent would take: refused once, before any target (nothing is sent, nothing is in the history)
    r = lms.http.post("/api/commands/batch", json={"command": "get_setting", "params": {}, "target": {"all": True}})
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params"

    history = lms.http.get("/api/commands", params={"agent": "agent-2", "limit": 10}).json()["data"]["commands"]
    assert [h["command"] for h in history][:2] == ["ping", "ping"]
    assert {h["source"] for h in history} == {"batch"}
    audit = lms.http.get("/api/audit", params={"action": "batch:ping"}).json()["data"]["entries"]
    assert [a["result"] for a in audit] == ["1/2 succeeded", "2/2 succeeded"]


def test_offline_agents_get_queued_settings_and_commands_when_they_return(
    lms_factory: LmsFactory, agents: AgentFactory
) -> None:
    lms = lms_factory().start()
    first = agents("agent-1").start()
    lms.wait_agent("agent-1")
    first.stop()
    lms.wait_agent("agent-1", "offline")

    r = lms.command("agent-1", "ping")
    assert r.status_code == 409 and r.json()["error_code"] == "agent_offline"  # not queued unless asked
    r = lms.http.put("/api/settings/agent-1/theme_mode", json={"value": "light"})
    assert r.status_code == 202 and r.json()["status"] == "queued"
    settings_id = r.json()["data"]["queue_id"]
    r = lms.command("agent-1", "get_info", queue_if_offline=True, queue_ttl_s=3600)
    assert r.status_code == 202
    r = lms.command("agent-1", "ping", queue_if_offline=True, queue_ttl_s=0.2)  # will expire first
    expiring_id = r.json()["data"]["queue_id"]
    r = lms.command("agent-1", "get_setting", {}, queue_if_offline=True)
    assert r.status_code == 422  # bad params are refused, not queued
    assert lms.command("agent-9", "ping", queue_if_offline=True).status_code == 404
    queue = lms.http.get("/api/commands/queue", params={"agent": "agent-1"}).json()["data"]
    assert queue["depth"] == 3

    time.sleep(0.3)
    assert lms.stop() == 0  # the queue survives a restart of the LMS
    lms.start()
    back = agents("agent-1").start()

    def drained() -> dict[int, dict[str, object]] | None:
        items = lms.http.get("/api/commands/queue", params={"agent": "agent-1"}).json()["data"]["items"]
        by_id = {i["id"]: i for i in items}
        return by_id if all(i["state"] not in ("queued", "delivering") for i in items) else None

    items = eventually(drained, 15, what="queue drained")
    assert back.settings["theme_mode"] == "light"
    assert items[settings_id]["state"] == "done" and items[settings_id]["result"]["success"] is True
    assert items[expiring_id]["state"] == "expired"
    assert [c.command for c in back.commands] == ["set_setting", "get_info"]  # in order; the expired one never ran


def test_a_queued_command_can_be_cancelled(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    agent.stop()
    lms.wait_agent("agent-1", "offline")
    item = lms.http.post("/api/settings/agent-1/batch", json={"settings": {"a": 1}}).json()["data"]["queue_id"]
    assert lms.http.delete(f"/api/commands/queue/{item}").status_code == 200
    assert lms.http.delete(f"/api/commands/queue/{item}").status_code == 409
    assert lms.http.delete("/api/commands/queue/999").status_code == 404
    assert lms.http.get("/api/commands/queue", params={"state": "cancelled"}).json()["data"]["count"] == 1


def test_cctv_paths_map_onto_the_agents_cctv_commands(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    calls = [
        ("GET", "/api/cctv/agent-1/state", None, "cctv_get_all_states"),
        ("GET", "/api/cctv/agent-1/cameras", None, "cctv_detect_cameras"),
        ("DELETE", "/api/cctv/agent-1/cameras/cam1", None, "cctv_remove_camera"),
        ("POST", "/api/cctv/agent-1/control", {"action": "start_recording", "camera_id": "cam1"},
         "cctv_start_recording"),
        ("GET", "/api/cctv/agent-1/storage", None, "cctv_get_storage_info"),
    ]
    for method, path, body, command in calls:
        r = lms.http.request(method, path, json=body)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["data"]["echo"] == command
    assert agent.commands[2].params == {"camera_id": "cam1"}
    with sqlite3.connect(lms.config_path.parent.parent / "lms.db") as db:  # the seed's cctv_logs table
        rows = db.execute("SELECT client_uuid, event_type, camera_id FROM cctv_logs ORDER BY id").fetchall()
    assert rows == [("agent-1", "remove_camera", "cam1"), ("agent-1", "start_recording", "cam1")]
    r = lms.http.post("/api/cctv/agent-1/control", json={"action": "explode", "camera_id": "cam1"})
    assert r.status_code == 422 and r.json()["error_code"] == "bad_payload"
    assert lms.http.get("/api/cctv/agent-9/state").status_code == 404
