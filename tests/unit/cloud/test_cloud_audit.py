"""The audit log (who, what, target, result; queried by time, newest first) and the guard that fails any
request path that scans a table."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from chalicelib.domain.page import Page
from chalicelib.models import AgentModel, CommandModel
from chalicelib.repositories.agent import AgentRepository
from tests.unit.cloud.cloud_testkit import Cloud, ScanOnRequestPath, no_scans, online


def test_audit_log_records_who_what_target_result(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")])
    cloud.post("/api/commands", {"agent_id": "a1", "command": "ping"}, role="viewer")  # refused
    cloud.clock.advance(1)
    cid = cloud.post("/api/commands", {"agent_id": "a1", "command": "ping"}, role="operator").json_body["data"][
        "command_id"]
    cloud.clock.advance(1)
    cloud.put("/api/agents/a1/tags", {"tags": ["x"]})
    cloud.get("/api/agents")  # reads are not audited

    entries = cloud.get("/api/audit").json_body["data"]["entries"]
    assert [(e["actor"], e["role"], e["action"], e["status"], e["result"]) for e in entries] == [
        ("test-admin", "admin", "agent.tags", 200, "ok"),
        ("test-operator", "operator", "command.create", 202, "ok"),
        ("test-viewer", "viewer", "command.create", 403, "forbidden"),
    ]
    assert entries[0]["target"] == "/api/agents/a1/tags"
    assert entries[1]["target"] == f"/api/commands command_id={cid}"

    page = cloud.get("/api/audit?limit=2").json_body["data"]
    assert len(page["entries"]) == 2 and page["cursor"]
    rest = cloud.get(f"/api/audit?limit=2&cursor={page['cursor']}").json_body["data"]
    assert [e["action"] for e in rest["entries"]] == ["command.create"] and rest["cursor"] is None
    assert rest["entries"][0]["status"] == 403

    now = cloud.clock.now
    window = cloud.get(f"/api/audit?since={now - 1.5}&until={now - 0.5}").json_body["data"]["entries"]
    assert [e["action"] for e in window] == ["command.create"] and window[0]["status"] == 202
    # an unauthenticated attempt is recorded as anonymous
    cloud.clock.advance(1)  # entries within one millisecond have no defined order
    cloud.post("/api/enrolments", {"name": "x"}, role=None)
    assert cloud.get("/api/audit?limit=1").json_body["data"]["entries"][0]["actor"] == "anonymous"
    for bad in ("since=-1", "since=nan", "cursor=nope", "limit=0"):
        assert cloud.get(f"/api/audit?{bad}").status_code == 400, bad
    # what the document allows is accepted (issue 17): a reversed window is empty, a long one is paged
    assert cloud.get("/api/audit?since=5&until=1").json_body["data"] == {"entries": [], "cursor": None}
    assert cloud.get("/api/audit?since=0&until=99999999").status_code == 200


def test_audit_entries_span_days(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")])
    cloud.put("/api/agents/a1/group", {"group": "g1"})
    cloud.clock.advance(86400)
    cloud.put("/api/agents/a1/group", {"group": "g2"})
    since = cloud.clock.now - 2 * 86400
    entries = cloud.get(f"/api/audit?since={since}").json_body["data"]["entries"]
    assert len(entries) == 2 and entries[0]["at"] > entries[1]["at"]


def test_scan_guard_catches_scans_even_when_swallowed(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ScanOnRequestPath), no_scans():
        list(CommandModel.scan())
    with pytest.raises(ScanOnRequestPath), no_scans():
        boto3.client("dynamodb", region_name="us-east-1").scan(TableName=CommandModel.Meta.table_name)

    def scanning_page(self: AgentRepository, **kwargs: Any) -> Any:
        return Page([a.agent_id for a in AgentModel.scan()])

    monkeypatch.setattr(AgentRepository, "page", scanning_page)
    with pytest.raises(ScanOnRequestPath):
        cloud.get("/api/agents")  # the API turned the error into a 500, but the guard still fails the call
    assert sum(1 for _ in CommandModel.scan()) == 0  # outside a request path, tests may inspect tables
