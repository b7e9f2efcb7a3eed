"""Agents: list filters (site, status, group, tag, pending) with pagination, tags, group, approve/reject."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.models import LabelModel
from tests.unit.cloud.cloud_testkit import Cloud, online


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    """s1: a1 (online), a2 (offline), a3 (online); s2: b1 (online)."""
    cloud.heartbeat("s1", [online("a1"), {"agent_id": "a2", "status": "offline"}, online("a3")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json_body
    return [a["agent_id"] for a in response.json_body["data"]["agents"]]


def test_filters(fleet: Cloud) -> None:
    assert fleet.put("/api/agents/a1/tags", {"tags": ["projector", "lab"]}).status_code == 200
    assert fleet.put("/api/agents/b1/tags", {"tags": ["lab"]}).status_code == 200
    assert fleet.put("/api/agents/a3/group", {"group": "room-101"}).json_body["data"]["group"] == "room-101"
    assert fleet.put("/api/agents/a2/group", {"group": "room-101"}).status_code == 200

    assert ids(fleet.get("/api/agents")) == ["a1", "a2", "a3", "b1"]
    assert ids(fleet.get("/api/agents?site_id=s1")) == ["a1", "a2", "a3"]
    assert ids(fleet.get("/api/agents?status=offline")) == ["a2"]
    assert ids(fleet.get("/api/agents?site_id=s1&status=online")) == ["a1", "a3"]
    assert ids(fleet.get("/api/agents?group=room-101")) == ["a2", "a3"]
    assert ids(fleet.get("/api/agents?group=room-101&status=online")) == ["a3"]
    assert ids(fleet.get("/api/agents?tag=lab")) == ["a1", "b1"]
    assert ids(fleet.get("/api/agents?tag=lab&site_id=s2")) == ["b1"]
    assert ids(fleet.get("/api/agents?tag=nothing")) == []
    assert ids(fleet.get("/api/agents?pending=true")) == []

    for bad in ("status=busy", "pending=yes", "limit=0", "cursor=zzz"):
        response = fleet.get(f"/api/agents?{bad}")
        assert response.status_code == 400, bad
        assert bad.split("=")[0] in response.json_body["error"]["message"]


def test_pagination_follows_the_cursor(fleet: Cloud) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        path = "/api/agents?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = fleet.get(path).json_body["data"]
        seen += [a["agent_id"] for a in body["agents"]]
        cursor = body["cursor"]
        if cursor is None:
            break
    assert seen == ["a1", "a2", "a3", "b1"]


def test_tags_replace_and_keep_the_index_in_step(fleet: Cloud) -> None:
    fleet.put("/api/agents/a1/tags", {"tags": ["x", "y"]})
    response = fleet.put("/api/agents/a1/tags", {"tags": ["y", "z"]})
    assert response.json_body["data"]["tags"] == ["y", "z"]
    assert sorted(item.label for item in LabelModel.query("tag#x")) == []
    assert ids(fleet.get("/api/agents?tag=z")) == ["a1"]
    # a heartbeat rewriting the agent keeps its tags and group
    fleet.clock.advance(10)
    fleet.heartbeat("s1", [{"agent_id": "a1", "status": "offline"}, {"agent_id": "a2", "status": "offline"},
                           online("a3")])
    assert fleet.get("/api/agents/a1").json_body["data"]["tags"] == ["y", "z"]
    assert fleet.put("/api/agents/a1/tags", {"tags": []}).json_body["data"]["tags"] == []
    assert ids(fleet.get("/api/agents?tag=y")) == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/agents/a1/tags", {"tags": ["bad tag"]}, "tags"),
        ("/api/agents/a1/tags", {"tags": ["a", "a"]}, "repeat"),
        ("/api/agents/a1/tags", {"tags": [f"t{i}" for i in range(21)]}, "tags"),
        ("/api/agents/a1/tags", {}, "tags"),
        ("/api/agents/a1/group", {"group": ""}, "group"),
        ("/api/agents/a1/group", {"group": 5}, "group"),
    ],
)
def test_bad_labels_are_400(fleet: Cloud, path: str, body: dict[str, Any], field: str) -> None:
    response = fleet.put(path, body)
    assert response.status_code == 400
    assert field in response.json_body["error"]["message"]
    agent = fleet.get("/api/agents/a1").json_body["data"]
    assert (agent["tags"], agent["group"]) == ([], None)


def test_unknown_agent_is_404_and_scoped_operator_is_403(fleet: Cloud) -> None:
    assert fleet.put("/api/agents/nope/tags", {"tags": []}).status_code == 404
    assert fleet.post("/api/agents/nope/approve", {}).status_code == 404
    from chalicelib import container
    scoped = container.get().tokens.create("operator", "s2-ops", site_ids=["s2"]).secret
    fleet.tokens["scoped"] = scoped
    assert fleet.put("/api/agents/b1/tags", {"tags": ["ok"]}, role="scoped").status_code == 200
    assert fleet.put("/api/agents/a1/tags", {"tags": ["no"]}, role="scoped").status_code == 404  # unseen site
    assert fleet.put("/api/agents/a1/group", {"group": "g"}, role="viewer").status_code == 403


def test_pending_agents_wait_for_approval(cloud: Cloud) -> None:
    from chalicelib import container
    from chalicelib.domain.agent import Agent
    from chalicelib.domain.approval import Approval
    from chalicelib.repositories.agent import AgentRepository
    from shared.messages import Presence

    lms = {"lms_uuid": "lms-p", "name": "p", "host": "h", "port": 8000, "version": "1"}
    cloud.post("/api/lms/register", lms, role=None)  # default policy: approval -> pending site
    # a pending site's heartbeats are refused (issue 11 item 1): its agents appear only once it is approved
    assert cloud.heartbeat("lms-p", [online("p1"), online("p2")])["ok"] is False
    assert ids(cloud.get("/api/agents?pending=true")) == []
    agents = AgentRepository(container.get().settings.tenant)
    for agent_id in ("p1", "p2"):  # agents stored as pending (the registry keeps the state)
        agents.save(Agent(agent_id, "lms-p", Presence.ONLINE, approval=Approval.PENDING))
    assert ids(cloud.get("/api/agents?pending=true")) == ["p1", "p2"]
    assert ids(cloud.get("/api/agents?pending=true&status=online&site_id=lms-p")) == ["p1", "p2"]

    response = cloud.post("/api/commands", {"agent_id": "p1", "command": "ping"})
    assert response.status_code == 409 and response.json_body["error"]["agent_ids"] == ["p1"]
    assert cloud.post("/api/agents/p1/approve", {}, role="operator").status_code == 403
    assert cloud.post("/api/agents/p1/approve", {}).json_body["data"]["approval"] == "approved"
    assert cloud.post("/api/agents/p2/reject", {}).json_body["data"]["approval"] == "rejected"
    assert ids(cloud.get("/api/agents?pending=true")) == []
    assert cloud.post("/api/commands", {"agent_id": "p1", "command": "ping"}).status_code == 202
    assert cloud.post("/api/commands", {"agent_id": "p2", "command": "ping"}).status_code == 409
    assert container.get().settings.lms_policy == "approval"


def test_batch_commands_by_site_group_and_tag(fleet: Cloud) -> None:
    from shared.messages import SiteCommand, decode

    fleet.put("/api/agents/a1/tags", {"tags": ["lab"]})
    fleet.put("/api/agents/b1/tags", {"tags": ["lab"]})
    fleet.put("/api/agents/a3/group", {"group": "room-101"})

    by_tag = fleet.post("/api/commands", {"tag": "lab", "command": "ping"}, role="operator")
    assert by_tag.status_code == 202 and sorted(by_tag.json_body["data"]["targets"]) == ["a1", "b1"]
    messages = [decode(SiteCommand, m.payload) for m in fleet.publisher.messages]
    assert sorted((m.targets[0], len(m.targets)) for m in messages) == [("a1", 1), ("b1", 1)]  # one per site

    by_site = fleet.post("/api/commands", {"site_id": "s1", "command": "ping"}).json_body["data"]
    assert by_site["targets"] == ["a1", "a2", "a3"] and by_site["site_ids"] == ["s1"]
    assert len(fleet.publisher.messages) == 3  # one more message, for the whole site
    by_group = fleet.post("/api/commands", {"group": "room-101", "command": "ping"}).json_body["data"]
    assert by_group["targets"] == ["a3"]

    assert fleet.post("/api/commands", {"tag": "none", "command": "ping"}).status_code == 404
    assert fleet.post("/api/commands", {"tag": "lab", "site_id": "s1", "command": "ping"}).status_code == 400
    assert fleet.post("/api/commands", {"site_id": "s1", "command": "ping"}, role="viewer").status_code == 403
