"""An enrolled agent sending bad messages (issue 17) against the real LMS, site broker and IoT Core stand-in: events
nested too deep or too big, NaN and infinities in metrics and process lists. Each is refused at intake with a
logged reason and nothing stored; the pages that would have shown it keep answering, and a good event sent in the
same batch still reaches the cloud."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import pytest

from shared import topics
from shared.messages import SiteEvents, decode
from shared.topics import AgentUp, SiteUp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.lms.lms_harness import NS, SITE, AgentFactory, LmsFactory, eventually, start_with_cloud

pytestmark = pytest.mark.integration

EVENTS = topics.site_up(NS, SITE, SiteUp.EVENTS)


def nested(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = {"x": value}
    return value


def event(kind: str, data: Any, severity: str = "warning", message: str = "") -> bytes:
    body = {"type": "event", "timestamp": time.time(), "kind": kind, "severity": severity, "message": message}
    return json.dumps({**body, "data": data}).encode()


def cloud_events(probe: MqttProbe) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json") for m in list(probe.messages) if m.topic == EVENTS
            for e in decode(SiteEvents, m.payload).events]  # fmt: skip


def stored_kinds(db_path: Any) -> list[str]:
    with sqlite3.connect(db_path) as db:
        return [k for (k,) in db.execute("SELECT kind FROM events ORDER BY id")]


def test_deep_and_huge_events_are_refused_and_the_good_one_reaches_the_cloud(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker, tmp_path: Any
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, EVENTS)
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")

    agent.publish(AgentUp.EVENT, event("disk.deep", nested(300)))  # parses, deeper than any payload may be
    agent.publish(AgentUp.EVENT, event("disk.deeper_than_data", nested(40)))  # a payload that fits; data does not
    agent.publish(AgentUp.EVENT, event("disk.huge", {"blob": "x" * (130 * 1024)}))  # over the message limit
    agent.publish(AgentUp.EVENT, event("disk.nan", {"free": float("nan")}))  # json.dumps writes NaN
    agent.publish(AgentUp.EVENT, event("disk.big_int", {"free": 2**64}))
    agent.publish(AgentUp.EVENT, event("disk.big", {"blob": "x" * (100 * 1024)}))  # fits, not in a site message
    agent.publish(AgentUp.EVENT, event("disk.full", {"free": 0}, message="the good one"))

    forwarded = eventually(lambda: len(cloud_events(cloud)) == 2 and cloud_events(cloud), what="two events")
    assert [e["event"]["kind"] for e in forwarded] == ["disk.big", "disk.full"]
    assert forwarded[0]["event"]["data"]["truncated"] is True  # as it is in the event log
    page = lms.http.get("/api/events")
    assert page.status_code == 200, page.text
    assert [e["kind"] for e in page.json()["data"]["events"]] == ["disk.full", "disk.big"]
    assert stored_kinds(tmp_path / "lms.db") == ["disk.big", "disk.full"]
    log = lms.log()
    assert log.count("registry: dropped message on ct/agent/agent-1/up/event") == 5, log
    assert "nested more than 64 levels" in log and "nested more than 32 levels" in log
    assert "NaN" in log and "64 bits" in log and "exceeds the 131072-byte limit" in log


def test_nan_and_infinity_in_metrics_and_processes_are_refused(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    sample = {"type": "metrics", "timestamp": time.time(), "cpu_percent": 5.0, "mem_total": 100, "mem_used": 50,
              "mem_percent": 50.0}  # fmt: skip

    agent.publish(AgentUp.METRICS, json.dumps({**sample, "cpu_percent": 7.0}).encode())
    eventually(lambda: (lms.client_info("agent-1") or {}).get("metrics"), what="the first sample")
    agent.publish(AgentUp.METRICS, json.dumps({**sample, "load": [float("nan"), 0, 0]}).encode())
    agent.publish(AgentUp.METRICS, json.dumps({**sample, "timestamp": float("inf")}).encode())
    agent.publish(AgentUp.METRICS, json.dumps(sample).replace('"cpu_percent": 5.0', '"cpu_percent": 1e999').encode())
    agent.publish(AgentUp.EVENT, event("processes", {"processes": [{"pid": 1, "cpu": float("-inf")}]}, "info"))
    eventually(lambda: lms.log().count("registry: dropped message on ct/agent/agent-1/up/") >= 4,
               what="four refusals in the log")  # fmt: skip

    answer = lms.http.get("/api/clients/agent-1")
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["metrics"]["cpu_percent"] == 7.0  # the last good sample stays
    processes = lms.http.get("/api/clients/agent-1/processes")
    assert processes.status_code == 404, processes.text  # none was taken
    agent.publish(AgentUp.EVENT, event("processes", {"processes": [{"pid": 1, "cpu": 0.5}]}, "info"))
    eventually(lambda: lms.http.get("/api/clients/agent-1/processes").status_code == 200, what="a good list")


def nested_json(levels: int) -> str:
    return '{"x":' * levels + "0" + "}" * levels


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", nested_json(40), nested_json(300)])
def test_an_operator_cannot_send_what_an_agent_would_refuse(
    lms_factory: LmsFactory, agents: AgentFactory, value: str
) -> None:
    """The same bounds on the way down: a setting an agent would refuse (not finite, not a scalar) is refused at the
    LMS's API with the reason — a 4xx for one agent, a per-agent ``invalid_params`` in a batch — never a 500, and
    no command goes on the wire."""
    lms = lms_factory().start(wait_cloud=False)
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    params = f'{{"key": "theme_mode", "value": {value}}}'
    headers = {"Content-Type": "application/json"}
    one = lms.http.post("/api/clients/agent-1/command", headers=headers,
                        content=f'{{"command": "set_setting", "params": {params}}}'.encode())  # fmt: skip
    assert 400 <= one.status_code < 500 and "value" in one.text, (one.status_code, one.text)
    batch = lms.http.post("/api/commands/batch", headers=headers, content=(
        f'{{"command": "set_setting", "params": {params}, "target": {{"ids": ["agent-1"]}}}}').encode())  # fmt: skip
    assert batch.status_code < 500, batch.text
    assert batch.status_code >= 400 or "invalid_params" in batch.text, batch.text
    timeout = lms.http.post("/api/clients/agent-1/command", headers=headers,
                            content=f'{{"command": "ping", "timeout_s": {value}}}'.encode())  # fmt: skip
    assert 400 <= timeout.status_code < 500, (timeout.status_code, timeout.text)
    assert agent.commands == []
