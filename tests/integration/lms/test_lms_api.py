"""The LMS's local API against the real site broker, the real LMS process and simulated agents."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest

from shared import topics
from shared.messages import Response
from shared.topics import AgentUp
from tests.integration.lms.lms_harness import AgentFactory, LmsFactory, eventually, silent_responder

pytestmark = pytest.mark.integration

def test_health_needs_no_auth_and_reports_the_site(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    r = lms.http.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    assert body["data"]["site_id"] == "school-1"
    assert body["data"]["tenant"] == "demo"
    assert body["data"]["site_broker"]["connected"] is True
    assert body["data"]["cloud"] is None  # site-only LMS
    assert body["data"]["store"] == {"writable": True, "error": None, "since": None, "refused": 0}
    assert body["data"]["status"] == "ok"
    assert lms.stop() == 0


def test_agent_comes_online_and_appears_in_clients(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agents("agent-1").start()
    info = lms.wait_agent("agent-1", "online")
    assert info["hostname"] == "pc-agent-1"
    listed = lms.http.get("/api/clients/").json()["data"]["clients"]
    assert [c["uuid"] for c in listed] == ["agent-1"]
    online = lms.http.get("/api/clients/online").json()["data"]["clients"]
    assert [c["uuid"] for c in online] == ["agent-1"]


def test_command_round_trip_through_http(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    r = lms.command("agent-1", "ping")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert body["status"] == "succeeded"
    assert body["data"] == {"pong": True, "agent": "agent-1"}
    assert body["error"] is None and body["error_code"] is None
    assert agent.commands[-1].request_id == body["request_id"]
    assert agent.commands[-1].command == "ping"

    # the agent's own failure is still a 200: the command ran, `success` says how it went
    agent.responder = lambda a, c: Response.fail(c.request_id, "exec_failed", "boom")  # type: ignore[arg-type]
    r = lms.command("agent-1", "get_info")
    assert r.status_code == 200
    assert r.json()["success"] is False and r.json()["error"] == "boom" and r.json()["status"] == "failed"

    # every command is logged
    lms.stop()
    with sqlite3.connect(lms.workdir.parent / "lms.db") as db:
        rows = db.execute("SELECT command, status, source FROM command_logs ORDER BY id").fetchall()
    assert rows == [("ping", "succeeded", "api"), ("get_info", "failed", "api")]


def test_settings_endpoints_use_the_agents_settings_commands(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    r = lms.http.get("/api/settings/agent-1")
    assert r.status_code == 200 and r.json()["data"] == {"theme_mode": "dark", "font_size": "14"}
    assert lms.http.get("/api/settings/agent-1/font_size").json()["data"] == "14"
    r = lms.http.put("/api/settings/agent-1/show_clock", json={"value": True})
    assert r.status_code == 200 and r.json()["success"] is True
    assert agent.settings["show_clock"] == "true"  # booleans travel as ClassTop strings
    r = lms.http.post("/api/settings/agent-1/batch", json={"settings": {"font_size": 16, "theme_mode": "light"}})
    assert r.status_code == 200, r.text
    assert agent.settings["font_size"] == "16" and agent.settings["theme_mode"] == "light"
    r = lms.http.get("/api/settings/agent-1/bad key!")
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params"
    assert lms.http.get("/api/settings/nobody").status_code == 404


def test_timeout_when_the_agent_never_answers(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1", silent_responder).start()
    lms.wait_agent("agent-1")
    started = time.monotonic()
    r = lms.command("agent-1", "ping", timeout_s=0.3)
    elapsed = time.monotonic() - started
    assert r.status_code == 504, r.text
    body = r.json()
    assert body["success"] is False
    assert body["status"] == "timed_out" and body["error_code"] == "timeout"
    eventually(lambda: agent.commands, what="the command at the agent")
    assert body["request_id"] == agent.commands[0].request_id
    assert elapsed >= 0.3  # it waited for the command's own timeout
    # a late answer is ignored, the LMS keeps working
    agent.respond(Response.ok(body["request_id"], "late"))
    agent.responder = lambda a, c: Response.ok(c.request_id, "now")
    assert lms.command("agent-1", "ping").json()["data"] == "now"


def test_unknown_agent_is_404(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    r = lms.command("agent-9", "ping")
    assert r.status_code == 404
    assert r.json()["error_code"] == "unknown_agent" and "agent-9" in r.json()["error"]
    assert lms.http.get("/api/clients/agent-9").status_code == 404
    assert lms.command("not a valid id", "ping").status_code == 404


def test_bad_requests_get_a_clear_4xx(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    url = "/api/clients/agent-1/command"
    headers = {"content-type": "application/json"}

    r = lms.http.post(url, content=b'{"command": "ping", ', headers=headers)
    assert r.status_code == 400 and r.json()["error_code"] == "bad_json", r.text
    assert "JSON" in r.json()["error"]

    r = lms.http.post(url, json={"command": 42, "params": []})
    assert r.status_code == 422 and r.json()["error_code"] == "bad_payload"
    assert "command" in r.json()["error"] and "params" in r.json()["error"]

    r = lms.http.post(url, json={"command": "ping", "surprise": 1})
    assert r.status_code == 422 and "surprise" in r.json()["error"]

    r = lms.http.post(url, json={"command": "ping", "timeout_s": -1})
    assert r.status_code == 422 and "timeout_s" in r.json()["error"]

    r = lms.command("agent-1", "format_the_disk")
    assert r.status_code == 422
    assert r.json()["error_code"] == "unknown_command" and "format_the_disk" in r.json()["error"]

    r = lms.command("agent-1", "set_setting", {"key": "x"})
    assert r.status_code == 422 and r.json()["error_code"] == "invalid_params" and "value" in r.json()["error"]

    big = {"command": "set_setting", "params": {"key": "x", "value": "a" * (300 * 1024)}}
    r = lms.http.post(url, json=big)
    assert r.status_code == 413 and r.json()["error_code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        yield b'{"command": "ping", "params": {"pad": "'
        for _ in range(300):
            yield b"a" * 1024
        yield b'"}}'

    r = lms.http.post(url, content=chunks(), headers=headers)  # chunked, no Content-Length
    assert r.status_code == 413

    # over the 128 KB MQTT message limit but under the HTTP limit: refused before sending
    big = {f"key_{i}": "a" * 8000 for i in range(20)}  # 160 KB of valid settings
    r = lms.command("agent-1", "update_settings_batch", {"settings": big})
    assert r.status_code == 413 and r.json()["error_code"] == "payload_too_large"

    assert agent.commands == []  # nothing bad reached the agent
    assert lms.command("agent-1", "ping").status_code == 200


def test_last_will_marks_the_agent_offline(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1", "online")
    agent.kill()
    info = lms.wait_agent("agent-1", "offline")
    assert info["status_reason"] == "lost"
    assert lms.http.get("/api/clients/online").json()["data"]["clients"] == []
    r = lms.command("agent-1", "ping")
    assert r.status_code == 409 and r.json()["error_code"] == "agent_offline"
    lms.stop()
    with sqlite3.connect(lms.workdir.parent / "lms.db") as db:
        events = db.execute("SELECT event_type, reason FROM connection_logs ORDER BY id").fetchall()
    assert events == [("online", "start"), ("offline", "lost")]


def test_clean_stop_and_silence_mark_offline(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory(settings={"presence_timeout_s": 1}).start()
    a1 = agents("agent-1").start()
    a2 = agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")
    a1.stop()
    assert lms.wait_agent("agent-1", "offline")["status_reason"] == "stop"
    # agent-2 keeps its connection but says nothing: the sweeper marks it offline ...
    assert lms.wait_agent("agent-2", "offline", timeout=5)["status_reason"] == "timeout"
    # ... and its next heartbeat brings it back
    a2.publish(AgentUp.HEARTBEAT, b'{"type": "heartbeat", "timestamp": 1}')
    assert lms.wait_agent("agent-2", "online")["status_reason"] == "heartbeat"


def test_bad_agent_payloads_are_dropped(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agent = agents("agent-1").start()
    lms.wait_agent("agent-1")
    agent.publish(AgentUp.STATUS, b"not json")
    agent.publish(AgentUp.HEARTBEAT, b'{"type": "heartbeat"}')
    agent.publish(AgentUp.STATE, b'{"type": "state_update", "data": {"settings": {"a": 1}}}')
    agent.publish(AgentUp.RESPONSE, b'{"type": "response", "request_id": "x", "success": "maybe"}')
    agent.publish(AgentUp.STATE, b'{"type": "state_update", "data": {"settings": {"font_size": "20"}}}')
    eventually(lambda: (lms.client_info("agent-1") or {}).get("settings") == {"font_size": "20"}, what="state")
    assert lms.command("agent-1", "ping").status_code == 200
    assert "dropped message" in lms.log() and "dropped response" in lms.log()
    assert topics.agent_up("agent-1", AgentUp.STATUS) in lms.log()
