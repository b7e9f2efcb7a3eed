"""A stolen agent (its broker credentials, on the twin) publishing what the LMS must refuse (issue 17): an event
nested 300 levels deep, NaN and infinities in a metrics sample and a process list. All tiers, real processes: the
refusals are in the LMS's log, the LMS's pages keep answering, and the good warning event sent right after the
deep one reaches the cloud's events log through the LMS, IoT Core stand-in and rules engine."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from edge.agent.config_structs import MqttSettings  # what the agent applies its credentials to
from edge.agent.credentials import CA_FILE, CREDENTIALS_FILE, Credentials
from infra.local.twin import Twin
from shared import topics
from shared.mqtt import MqttClient
from shared.topics import AgentUp
from tests.integration.lms.lms_harness import eventually

pytestmark = pytest.mark.e2e

AGENTS = ("pc-a",)  # the agent of the module's twin (tests/e2e/conftest.py)


def cloud_events(twin: Twin, agent_id: str) -> list[dict[str, Any]]:
    req = urllib.request.Request(f"{twin.api_url}/api/cctv/events?agent_id={agent_id}")
    req.add_header("Authorization", f"Bearer {twin.admin_token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        events: list[dict[str, Any]] = json.loads(resp.read())["data"]["events"]
    return events


def stolen(twin: Twin, agent_id: str) -> MqttClient:
    """The agent stopped, and its credentials used by someone else (same client id: the broker binds it)."""
    twin.agents[agent_id].stop()
    state = twin.workdir / "agents" / agent_id / "state"
    creds = Credentials(**json.loads((state / CREDENTIALS_FILE).read_text()))
    settings = creds.apply(MqttSettings(host="127.0.0.1", port=1, client_id=agent_id), state / CA_FILE)
    client = MqttClient(settings, name=f"stolen-{agent_id}")
    client.start(wait_s=10.0)
    return client


def event(kind: str, data: Any) -> bytes:
    return json.dumps({"type": "event", "timestamp": time.time(), "kind": kind, "severity": "warning",
                       "message": kind, "data": data}).encode()  # fmt: skip


def test_a_stolen_agent_cannot_break_a_page_or_lose_an_event(twin: Twin) -> None:
    client = stolen(twin, "pc-a")
    deep: Any = 0
    for _ in range(300):
        deep = {"x": deep}
    sample = {"type": "metrics", "timestamp": time.time(), "cpu_percent": 5.0, "mem_total": 100, "mem_used": 50,
              "mem_percent": 50.0, "load": [float("nan"), 0, 0]}  # fmt: skip
    try:
        up = topics.agent_up("pc-a", AgentUp.EVENT)
        client.publish(up, event("disk.deep", deep), qos=1).wait_for_publish(10)
        client.publish(up, event("disk.full", {"free": 0}), qos=1).wait_for_publish(10)
        metrics = topics.agent_up("pc-a", AgentUp.METRICS)
        client.publish(metrics, json.dumps(sample).encode(), qos=1).wait_for_publish(10)
        client.publish(up, json.dumps({"type": "event", "timestamp": time.time(), "kind": "processes",
                                       "data": {"by_cpu": [{"cpu_percent": float("inf")}]}}).encode(),
                       qos=1).wait_for_publish(10)  # fmt: skip
        found = eventually(lambda: [e for e in cloud_events(twin, "pc-a") if e.get("kind") == "disk.full"], 30,
                           what="the good event in the cloud")  # fmt: skip
        assert found and not [e for e in cloud_events(twin, "pc-a") if e.get("kind") == "disk.deep"]
        page = twin.lms_api("/api/events?agent=pc-a", twin.lms_token)
        assert [e["kind"] for e in page["data"]["events"]] == ["disk.full"]
        assert twin.lms_api("/api/clients/pc-a", twin.lms_token)["success"] is True
        try:  # the agent's own list (sent when it connected), or none yet: never a 500
            twin.lms_api("/api/clients/pc-a/processes", twin.lms_token)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404, exc
        log = (twin.workdir / "logs" / "lms.log").read_text(errors="replace")
        assert log.count("registry: dropped message on ct/agent/pc-a/up/") >= 3, log[-3000:]
    finally:
        client.stop(timeout_s=2.0)
