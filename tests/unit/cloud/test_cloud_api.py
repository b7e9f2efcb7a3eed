"""The HTTP API on in-process moto: auth, validation, command creation and publishing, reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import container
from chalicelib.models import CommandModel
from shared.messages import SiteCommand, decode
from shared.topics import site_down
from tests.unit.cloud.cloud_testkit import NS, Cloud, online


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json_body["error"]
    return error


def stored_commands() -> int:
    return sum(1 for _ in CommandModel.scan())  # test-only inspection of the table


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    """Two sites: s1 with a1, a2; s2 with b1."""
    assert cloud.heartbeat("s1", [online("a1"), online("a2")])["ok"]
    assert cloud.heartbeat("s2", [online("b1")])["ok"]
    return cloud


# ---------------------------------------------------------------- health and auth


def test_health_needs_no_token(cloud: Cloud) -> None:
    response = cloud.get("/api/health", role=None)
    assert response.status_code == 200
    body = response.json_body
    assert body["success"] is True
    assert body["data"]["status"] == "ok"
    assert body["data"]["version"]
    assert isinstance(body["data"]["timestamp"], float)


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Basic abc", "Bearer", "ctk_x"])
def test_missing_or_unknown_token_is_401(fleet: Cloud, authorization: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    for response in (
        fleet.client.http.get("/api/agents", headers=headers),
        fleet.client.http.post("/api/commands", headers=headers,
                               body=json.dumps({"agent_id": "a1", "command": "ping"}).encode()),
    ):
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthorized"
    assert fleet.publisher.messages == []


def test_viewer_reads_but_cannot_post(fleet: Cloud) -> None:
    assert fleet.get("/api/agents", role="viewer").status_code == 200
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "ping"}, role="viewer")
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    assert stored_commands() == 0


def test_exec_needs_admin(fleet: Cloud) -> None:
    body = {"agent_id": "a1", "command": "exec", "params": {"cmd": "echo hi"}}
    response = fleet.post("/api/commands", body, role="operator")
    assert response.status_code == 403
    assert "exec" in error_of(response)["message"]
    assert stored_commands() == 0 and fleet.publisher.messages == []

    response = fleet.post("/api/commands", body, role="admin")
    assert response.status_code == 202
    # exec waits for the process's own timeout plus a margin
    assert response.json_body["data"]["timeout_s"] == 35.0


def test_operator_sends_ordinary_commands(fleet: Cloud) -> None:
    assert fleet.post("/api/commands", {"agent_id": "a1", "command": "ping"}, role="operator").status_code == 202


def test_site_scoped_token_cannot_reach_other_sites(fleet: Cloud) -> None:
    issued = container.get().tokens.create("operator", "s1-operator", site_ids=["s1"])
    fleet.tokens["s1-op"] = issued.secret
    assert fleet.post("/api/commands", {"agent_id": "a1", "command": "ping"}, role="s1-op").status_code == 202
    response = fleet.post("/api/commands", {"agent_id": "b1", "command": "ping"}, role="s1-op")
    assert response.status_code == 404 and error_of(response)["code"] == "unknown_agent"  # as if it did not exist
    listed = fleet.get("/api/agents", role="s1-op").json_body["data"]["agents"]
    assert {a["agent_id"] for a in listed} == {"a1", "a2"}
    assert fleet.get("/api/agents/b1", role="s1-op").status_code == 404


# ---------------------------------------------------------------- creating commands


def test_create_command_for_one_agent(fleet: Cloud) -> None:
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "get_setting", "params": {"key": "theme"}})
    assert response.status_code == 202
    record = response.json_body["data"]
    assert record["status"] == "pending"
    assert record["targets"] == ["a1"]
    assert record["results"]["a1"]["status"] == "pending"
    assert record["params"] == {"key": "theme"}

    assert len(fleet.publisher.messages) == 1
    sent = fleet.publisher.messages[0]
    assert sent.topic == site_down(NS, "s1") == "ct/demo/test/site/s1/down/command"
    assert sent.qos == 1
    message = decode(SiteCommand, sent.payload)
    assert message.request_id == record["command_id"]
    assert message.targets == ["a1"]
    assert message.command == "get_setting" and message.params == {"key": "theme"}
    assert message.expires_at is not None

    stored = fleet.get(f"/api/commands/{record['command_id']}")
    assert stored.status_code == 200
    data = stored.json_body["data"]
    assert data["status"] == "pending" and data["results"]["a1"]["status"] == "pending"
    assert {"command_id", "command", "params", "status", "targets", "results", "created_at", "updated_at"} <= set(data)


def test_batch_across_two_sites_is_one_message_per_site(fleet: Cloud) -> None:
    response = fleet.post("/api/commands", {"agent_ids": ["a1", "b1", "a2", "a1"], "command": "ping"})
    assert response.status_code == 202
    record = response.json_body["data"]
    assert record["targets"] == ["a1", "b1", "a2"]
    assert record["site_ids"] == ["s1", "s2"]
    by_topic = {m.topic: decode(SiteCommand, m.payload) for m in fleet.publisher.messages}
    assert len(fleet.publisher.messages) == 2
    assert by_topic[site_down(NS, "s1")].targets == ["a1", "a2"]
    assert by_topic[site_down(NS, "s2")].targets == ["b1"]
    assert {m.request_id for m in by_topic.values()} == {record["command_id"]}


def test_unknown_agent_is_404_and_nothing_is_stored(fleet: Cloud) -> None:
    response = fleet.post("/api/commands", {"agent_ids": ["a1", "ghost", "zombie"], "command": "ping"})
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "unknown_agent"
    assert "ghost" in error["message"] and "zombie" in error["message"]
    assert error["agent_ids"] == ["ghost", "zombie"]
    assert stored_commands() == 0
    assert fleet.publisher.messages == []


def test_unknown_command_is_400(fleet: Cloud) -> None:
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "format_disk"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "unknown_command"
    assert stored_commands() == 0


@pytest.mark.parametrize(
    ("command", "params", "field"),
    [
        ("get_setting", {}, "key"),
        ("set_setting", {"key": "bad key!", "value": "x"}, "key"),
        ("exec", {"cmd": "ls", "argv": ["ls"]}, "exactly one"),
        ("ping", {"unexpected": 1}, "unexpected"),
    ],
)
def test_bad_params_are_400(fleet: Cloud, command: str, params: dict[str, Any], field: str) -> None:
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": command, "params": params})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_params"
    assert field in error["message"]
    assert stored_commands() == 0 and fleet.publisher.messages == []


def test_params_are_normalised(fleet: Cloud) -> None:
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "set_setting",
                                            "params": {"key": "show_clock", "value": True}})
    assert response.status_code == 202
    assert response.json_body["data"]["params"] == {"key": "show_clock", "value": "true"}


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_malformed_json_is_400(fleet: Cloud, raw: bytes) -> None:
    response = fleet.post("/api/commands", raw)
    assert response.status_code == 400
    assert error_of(response)["code"] in ("bad_json", "bad_payload")
    assert stored_commands() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent_id": 123, "command": "ping"}, "agent_id"),
        ({"agent_ids": "a1", "command": "ping"}, "agent_ids"),
        ({"agent_ids": [], "command": "ping"}, "agent_ids"),
        ({"agent_id": "a1", "command": ["ping"]}, "command"),
        ({"agent_id": "a1", "command": "ping", "params": "x"}, "params"),
        ({"agent_id": "a1", "command": "ping", "timeout_s": "30"}, "timeout_s"),
        ({"agent_id": "a1", "command": "ping", "timeout_s": -1}, "timeout_s"),
        ({"agent_id": "a1", "agent_ids": ["a2"], "command": "ping"}, "agent_id"),
        ({"command": "ping"}, "agent_id"),
        ({"agent_id": "a1"}, "command"),
        ({"agent_id": "a1", "command": "ping", "extra": 1}, "extra"),
        ({"agent_id": "a/1", "command": "ping"}, "agent_id"),
    ],
)
def test_wrong_types_are_400_naming_the_field(fleet: Cloud, body: dict[str, Any], field: str) -> None:
    response = fleet.post("/api/commands", body)
    assert response.status_code == 400, response.json_body
    assert field in error_of(response)["message"]
    assert stored_commands() == 0 and fleet.publisher.messages == []


def test_oversized_body_is_413(fleet: Cloud) -> None:
    body = {"agent_id": "a1", "command": "ping", "params": {"pad": "x" * (256 * 1024)}}
    response = fleet.post("/api/commands", body)
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert stored_commands() == 0


def test_command_bigger_than_an_iot_message_is_413(fleet: Cloud) -> None:
    settings = {f"k{i}": "v" * 500 for i in range(300)}  # ~160 KB: under the body limit, over IoT's 128 KB
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "update_settings_batch",
                                            "params": {"settings": settings}})
    assert response.status_code == 413
    assert stored_commands() == 0


def test_publish_failure_marks_the_site_failed_and_is_502(fleet: Cloud) -> None:
    fleet.publisher.fail_topics.add(site_down(NS, "s2"))
    response = fleet.post("/api/commands", {"agent_ids": ["a1", "b1"], "command": "ping"})
    assert response.status_code == 502
    error = error_of(response)
    assert error["failed_sites"] == ["s2"]
    record = fleet.get(f"/api/commands/{error['command_id']}").json_body["data"]
    assert record["results"]["b1"]["status"] == "failed"
    assert "s2" in record["results"]["b1"]["error"]
    assert record["results"]["a1"]["status"] == "pending"  # its site got the command
    assert "s2" in record["error"]

    # once a1 finishes the command is closed as failed
    fleet.results("s1", [{"request_id": error["command_id"], "agent_id": "a1", "status": "succeeded"}])
    assert fleet.get(f"/api/commands/{error['command_id']}").json_body["data"]["status"] == "failed"


def test_publish_failure_everywhere_fails_the_command(fleet: Cloud) -> None:
    fleet.publisher.fail_topics.add(site_down(NS, "s1"))
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "ping"})
    assert response.status_code == 502
    record = fleet.get(f"/api/commands/{error_of(response)['command_id']}").json_body["data"]
    assert record["status"] == "failed"


def test_seed_control_command(fleet: Cloud) -> None:
    body = {"target_client": "a1", "request_id": "req-1", "command": "get_all_settings", "params": {}}
    response = fleet.post("/api/control/command", body, role="operator")
    assert response.status_code == 202
    assert response.json_body["success"] is True
    assert response.json_body["data"]["command_id"] == "req-1"
    assert decode(SiteCommand, fleet.publisher.messages[0].payload).request_id == "req-1"
    again = fleet.post("/api/control/command", body)
    assert again.status_code == 409
    assert len(fleet.publisher.messages) == 1

    alt = fleet.post("/api/control/command", {"client_uuid": "a2", "command": "ping", "params": None})
    assert alt.status_code == 202
    both = fleet.post("/api/control/command", {"client_uuid": "a2", "agent_id": "a1", "command": "ping"})
    assert both.status_code == 400


def test_get_unknown_command_is_404(fleet: Cloud) -> None:
    for command_id in ("nope", "bad id!"):
        response = fleet.get(f"/api/commands/{command_id}")
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"


# ---------------------------------------------------------------- registry reads


def test_agents_listing_pages_and_filters(fleet: Cloud) -> None:
    everything = fleet.get("/api/agents", role="viewer").json_body["data"]
    assert [a["agent_id"] for a in everything["agents"]] == ["a1", "a2", "b1"]
    assert everything["cursor"] is None

    seen: list[str] = []
    path = "/api/agents?limit=2"
    while True:
        page = fleet.get(path).json_body["data"]
        seen += [a["agent_id"] for a in page["agents"]]
        if page["cursor"] is None:
            break
        path = f"/api/agents?limit=2&cursor={page['cursor']}"
    assert seen == ["a1", "a2", "b1"]

    site = fleet.get("/api/agents?site_id=s2").json_body["data"]["agents"]
    assert [a["agent_id"] for a in site] == ["b1"]
    assert fleet.get("/api/agents?limit=0").status_code == 400
    assert fleet.get("/api/agents?limit=x").status_code == 400
    assert fleet.get("/api/agents?cursor=garbage").status_code == 400


def test_get_agent(fleet: Cloud) -> None:
    agent = fleet.get("/api/agents/a1").json_body["data"]
    assert agent["site_id"] == "s1" and agent["status"] == "online"
    missing = fleet.get("/api/agents/nobody")
    assert missing.status_code == 404 and error_of(missing)["code"] == "unknown_agent"


def test_sites(fleet: Cloud) -> None:
    sites = fleet.get("/api/lms").json_body["data"]["sites"]
    assert [(s["site_id"], s["agent_count"], s["online_count"]) for s in sites] == [("s1", 2, 2), ("s2", 1, 1)]
    site = fleet.get("/api/lms/s1").json_body["data"]
    assert site["lms_version"] == "1.0.0"
    missing = fleet.get("/api/lms/nowhere")
    assert missing.status_code == 404 and error_of(missing)["code"] == "unknown_site"


def test_any_publisher_exception_is_recorded(fleet: Cloud) -> None:
    class BrokenLink:
        def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
            raise ConnectionError("broker gone")

    container.configure(publisher=BrokenLink())
    response = fleet.post("/api/commands", {"agent_id": "a1", "command": "ping"})
    assert response.status_code == 502
    record = fleet.get(f"/api/commands/{error_of(response)['command_id']}").json_body["data"]
    assert record["status"] == "failed"
    assert "ConnectionError: broker gone" in record["results"]["a1"]["error"]
