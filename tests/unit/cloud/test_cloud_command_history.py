"""An agent's command history (an index, newest first) and the sweeper that closes commands nobody reported."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.models import AgentCommandModel
from tests.unit.cloud.cloud_testkit import Cloud, online


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def send(cloud: Cloud, *agents: str, command: str = "ping") -> str:
    response = cloud.post("/api/commands", {"agent_ids": list(agents), "command": command})
    assert response.status_code == 202, response.json_body
    command_id: str = response.json_body["data"]["command_id"]
    return command_id


def sweep(cloud: Cloud) -> dict[str, Any]:
    event = cloud.client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                  resources=[])
    answer: dict[str, Any] = cloud.invoke("expire_commands", event)
    return answer


def test_history_is_newest_first_and_paged(fleet: Cloud) -> None:
    first = send(fleet, "a1")
    fleet.clock.advance(1)
    second = send(fleet, "a1", "a2")
    fleet.clock.advance(1)
    send(fleet, "b1")
    fleet.results("s1", [{"request_id": first, "agent_id": "a1", "status": "succeeded", "data": {"pong": True}}])

    body = fleet.get("/api/agents/a1/commands", role="viewer").json_body["data"]
    assert [c["command_id"] for c in body["commands"]] == [second, first]
    assert body["commands"][1]["result"]["status"] == "succeeded"
    assert body["commands"][0]["targets"] == 2 and body["cursor"] is None

    page = fleet.get("/api/agents/a1/commands?limit=1").json_body["data"]
    assert [c["command_id"] for c in page["commands"]] == [second]
    rest = fleet.get(f"/api/agents/a1/commands?limit=1&cursor={page['cursor']}").json_body["data"]
    assert [c["command_id"] for c in rest["commands"]] == [first]

    assert [c["command_id"] for c in fleet.get("/api/agents/a2/commands").json_body["data"]["commands"]] == [second]
    assert fleet.get("/api/agents/nope/commands").status_code == 404
    assert fleet.get("/api/agents/a1/commands?limit=9999").status_code == 400


def test_a_refused_command_leaves_no_history(fleet: Cloud) -> None:
    send(fleet, "a1")
    taken = fleet.post("/api/control/command", {"target_client": "a1", "request_id": "r-1", "command": "ping"})
    assert taken.status_code == 202
    again = fleet.post("/api/control/command", {"target_client": "a2", "request_id": "r-1", "command": "ping"})
    assert again.status_code == 409
    assert fleet.get("/api/agents/a2/commands").json_body["data"]["commands"] == []
    assert AgentCommandModel.count("a2") == 0


def test_sweeper_expires_undelivered_and_times_out_silent_agents(fleet: Cloud) -> None:
    window = 24 * 3600
    undelivered = send(fleet, "a1", "b1")
    running = send(fleet, "a2")
    done = send(fleet, "a1")
    fleet.results("s1", [{"request_id": running, "agent_id": "a2", "status": "running"},
                         {"request_id": done, "agent_id": "a1", "status": "succeeded"}])
    fleet.results("s2", [{"request_id": undelivered, "agent_id": "b1", "status": "succeeded"}])

    assert sweep(fleet) == {"ok": True, "commands_closed": 0, "agents_expired": 0, "agents_timed_out": 0,
                            "commands_left": 0}
    fleet.clock.advance(window + 1)
    report = sweep(fleet)
    assert report["agents_expired"] == 1 and report["commands_closed"] == 1 and report["commands_left"] == 1

    record = fleet.get(f"/api/commands/{undelivered}").json_body["data"]
    assert record["status"] == "failed"  # b1 succeeded, a1 expired
    assert record["results"]["a1"]["status"] == "expired"
    assert record["results"]["b1"]["status"] == "succeeded"
    assert fleet.get(f"/api/commands/{running}").json_body["data"]["status"] == "pending"  # still in its timeout

    fleet.clock.advance(60)
    assert sweep(fleet)["agents_timed_out"] == 1
    record = fleet.get(f"/api/commands/{running}").json_body["data"]
    assert (record["status"], record["results"]["a2"]["status"]) == ("timed_out", "timed_out")
    assert fleet.get(f"/api/commands/{done}").json_body["data"]["status"] == "succeeded"
    # a late result changes nothing, and the next sweep finds nothing
    late = fleet.results("s1", [{"request_id": undelivered, "agent_id": "a1", "status": "succeeded"}])
    assert late["duplicates"] == 1
    assert sweep(fleet)["commands_closed"] == 0


def test_a_command_nobody_received_is_expired(fleet: Cloud) -> None:
    cid = send(fleet, "a1", "a2")
    fleet.clock.advance(24 * 3600 + 1)
    sweep(fleet)
    assert fleet.get(f"/api/commands/{cid}").json_body["data"]["status"] == "expired"
