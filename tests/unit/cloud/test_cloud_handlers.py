"""The IoT-rule handlers (invoked as Lambda functions): command results and site heartbeats."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import container
from chalicelib.handlers import RULE_HANDLERS
from chalicelib.models import AgentModel, CommandModel, SiteModel
from tests.unit.cloud.cloud_testkit import Cloud, online, rule_event


def command(cloud: Cloud, *agents: str, name: str = "ping", params: dict[str, Any] | None = None) -> str:
    response = cloud.post("/api/commands", {"agent_ids": list(agents), "command": name, "params": params or {}})
    assert response.status_code == 202, response.json_body
    command_id: str = response.json_body["data"]["command_id"]
    return command_id


def record(cloud: Cloud, command_id: str) -> dict[str, Any]:
    data: dict[str, Any] = cloud.get(f"/api/commands/{command_id}").json_body["data"]
    return data


def revision(command_id: str) -> int:
    return int(CommandModel.get(command_id, consistent_read=True).revision)


def agent_revisions() -> dict[str, int]:
    return {a.agent_id: int(a.revision) for a in AgentModel.scan(consistent_read=True)}  # test-only


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def test_rule_handlers_are_registered_lambdas(cloud: Cloud) -> None:
    from app import app

    assert set(RULE_HANDLERS) == {"site_heartbeat", "command_results", "site_events", "site_sync", "site_metrics",
                                  "agents_retired", "upgrade_reports", "site_alerts", "site_presence"}
    assert set(RULE_HANDLERS) <= set(app.handler_map)
    handler_strings = {f.name: f.handler_string for f in app.pure_lambda_functions}
    assert handler_strings == {
        "site_heartbeat": "chalicelib.handlers.site_heartbeat",
        "command_results": "chalicelib.handlers.command_results",
        "site_events": "chalicelib.handlers.site_events",
        "site_sync": "chalicelib.handlers.site_sync",
        "site_metrics": "chalicelib.handlers.site_metrics",
        "agents_retired": "chalicelib.handlers.agents_retired",
        "upgrade_reports": "chalicelib.handlers.upgrade_reports",
        "site_alerts": "chalicelib.handlers.site_alerts",
        "site_presence": "chalicelib.handlers.site_presence",
    }
    schedules = {source.name: source.handler_string for source in app.event_sources}
    assert schedules == {"expire_commands": "chalicelib.handlers.expire_commands",
                         "evaluate_alerts": "chalicelib.handlers.evaluate_alerts",
                         "alert_digest": "chalicelib.handlers.alert_digest"}


# ---------------------------------------------------------------- command results


def test_result_closes_command_with_output(fleet: Cloud) -> None:
    cid = command(fleet, "a1", name="exec", params={"cmd": "echo hi"})
    fleet.clock.advance(1)
    report = fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "delivered"}])
    assert report == {"ok": True, "site_id": "s1", "applied": 1, "duplicates": 0, "ignored": 0}
    assert record(fleet, cid)["status"] == "pending"
    assert record(fleet, cid)["results"]["a1"]["status"] == "delivered"

    fleet.clock.advance(1)
    output = {"exit_code": 0, "stdout": "hi\n", "stderr": ""}
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "succeeded", "success": True,
                          "data": output}])
    data = record(fleet, cid)
    assert data["status"] == "succeeded"
    assert data["results"]["a1"] == {
        "site_id": "s1", "status": "succeeded", "success": True, "data": output, "error": None,
        "error_code": None, "updated_at": fleet.clock.now,
        # no hops from this site: the cloud's own (created, sent, stored) only
        "hops": {"created": fleet.clock.now - 2, "sent": fleet.clock.now - 2, "stored": fleet.clock.now},
    }
    assert data["updated_at"] == fleet.clock.now


def test_failure_is_recorded_with_its_error(fleet: Cloud) -> None:
    cid = command(fleet, "a1")
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "failed", "success": False,
                          "error": "boom", "error_code": "exec_failed", "data": {"exit_code": 3}}])
    data = record(fleet, cid)
    assert data["status"] == "failed"
    assert data["results"]["a1"]["error"] == "boom"
    assert data["results"]["a1"]["error_code"] == "exec_failed"
    assert data["results"]["a1"]["data"] == {"exit_code": 3}


def test_aggregate_status_waits_for_every_agent(fleet: Cloud) -> None:
    cid = command(fleet, "a1", "a2", "b1")
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "succeeded"},
                         {"request_id": cid, "agent_id": "a2", "status": "succeeded"}])
    assert record(fleet, cid)["status"] == "pending"
    fleet.results("s2", [{"request_id": cid, "agent_id": "b1", "status": "failed", "error": "no"}])
    assert record(fleet, cid)["status"] == "failed"

    cid = command(fleet, "a1", "b1")
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "succeeded"}])
    fleet.results("s2", [{"request_id": cid, "agent_id": "b1", "status": "succeeded"}])
    assert record(fleet, cid)["status"] == "succeeded"

    cid = command(fleet, "a1", "a2")
    fleet.results("s1", [{"request_id": cid, "agent_id": a, "status": "timed_out", "error_code": "timeout",
                          "error": "no answer"} for a in ("a1", "a2")])
    assert record(fleet, cid)["status"] == "timed_out"


def test_results_are_idempotent_and_terminal_never_reverts(fleet: Cloud) -> None:
    cid = command(fleet, "a1")
    result = {"request_id": cid, "agent_id": "a1", "status": "succeeded", "data": {"pong": 1}}
    assert fleet.results("s1", [result])["applied"] == 1
    before, rev = record(fleet, cid), revision(cid)

    fleet.clock.advance(5)
    assert fleet.results("s1", [result])["duplicates"] == 1  # redelivery
    late = [{"request_id": cid, "agent_id": "a1", "status": s} for s in ("running", "delivered", "pending")]
    assert fleet.results("s1", late)["duplicates"] == 3  # progress after the end
    other = {"request_id": cid, "agent_id": "a1", "status": "failed", "error": "late"}
    assert fleet.results("s1", [other])["duplicates"] == 1  # a second terminal status
    assert record(fleet, cid) == before
    assert revision(cid) == rev  # nothing was written


def test_progress_only_moves_forward(fleet: Cloud) -> None:
    cid = command(fleet, "a1")
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "running"}])
    report = fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "queued"}])
    assert report["duplicates"] == 1
    assert record(fleet, cid)["results"]["a1"]["status"] == "running"


def test_results_for_unknown_commands_or_foreign_agents_are_ignored(fleet: Cloud) -> None:
    cid = command(fleet, "a1")
    rev = revision(cid)
    report = fleet.results("s1", [
        {"request_id": "no-such-command", "agent_id": "a1", "status": "succeeded"},
        {"request_id": cid, "agent_id": "a2", "status": "succeeded"},  # not targeted
    ])
    assert report == {"ok": True, "site_id": "s1", "applied": 0, "duplicates": 0, "ignored": 2}
    # a site may not report for another site's agents
    assert fleet.results("s2", [{"request_id": cid, "agent_id": "a1", "status": "failed", "error": "x"}])[
        "ignored"] == 1
    assert revision(cid) == rev and record(fleet, cid)["status"] == "pending"


def test_oversized_result_data_is_truncated(fleet: Cloud) -> None:
    cid = command(fleet, "a1")
    big = {"stdout": "x" * 40_000}
    fleet.results("s1", [{"request_id": cid, "agent_id": "a1", "status": "succeeded", "data": big}])
    entry = record(fleet, cid)["results"]["a1"]
    assert entry["data_truncated"] is True
    assert isinstance(entry["data"], str) and len(entry["data"]) == container.get().settings.result_data_limit


@pytest.mark.parametrize(
    "event",
    [
        {"type": "command_results", "v": 1, "results": []},  # no site_id
        {"type": "command_results", "v": 1, "site_id": "s1", "results": []},  # empty batch
        {"type": "command_results", "v": 1, "site_id": "s/1", "results": [
            {"request_id": "x", "agent_id": "a1", "status": "succeeded", "timestamp": 1}]},
        {"type": "command_results", "v": 1, "site_id": "s1", "results": [
            {"request_id": "x", "agent_id": "a1", "status": "bogus", "timestamp": 1}]},
        {"type": "site_heartbeat", "v": 1, "site_id": "s1"},
    ],
)
def test_bad_results_events_are_dropped(cloud: Cloud, event: dict[str, Any]) -> None:
    outcome = cloud.invoke("command_results", event)
    assert outcome["ok"] is False
    assert outcome["error"]["code"] in ("bad_payload", "bad_json")


def test_handlers_accept_a_none_context(fleet: Cloud) -> None:
    # the local twin's rules engine calls the plain functions with context=None
    out = RULE_HANDLERS["site_heartbeat"](rule_event(
        "site_heartbeat", {"type": "site_heartbeat", "v": 1, "timestamp": fleet.clock.now, "lms_version": "1.0.0",
                           "agents": [online("a1"), online("a2")], "site_id": "s1"}), None)
    assert out["ok"] is True
    assert RULE_HANDLERS["command_results"]("garbage", None)["ok"] is False  # type: ignore[arg-type]


# ---------------------------------------------------------------- heartbeats


def test_heartbeat_creates_site_and_agents(cloud: Cloud) -> None:
    out = cloud.heartbeat("s1", [online("a1", hostname="pc-1", version="0.1.0"),
                                 {"agent_id": "a2", "status": "offline", "kind": "legacy", "last_seen": 5.0}])
    assert out == {"ok": True, "site_id": "s1", "site_written": True, "agents_written": 2, "agents_offlined": 0,
                   "agents_refused": (), "stale": False, "agents_retiring": (), "orders_resent": 0,
                   "agents_unchanged": False, "orders_read": True}
    a1 = cloud.get("/api/agents/a1").json_body["data"]
    assert (a1["site_id"], a1["status"], a1["hostname"], a1["version"], a1["kind"]) == (
        "s1", "online", "pc-1", "0.1.0", "agent")
    a2 = cloud.get("/api/agents/a2").json_body["data"]
    assert (a2["status"], a2["kind"], a2["last_seen"]) == ("offline", "legacy", 5.0)
    site = cloud.get("/api/lms/s1").json_body["data"]
    assert (site["agent_count"], site["online_count"], site["last_heartbeat"]) == (2, 1, cloud.clock.now)


def test_heartbeat_writes_only_changes(cloud: Cloud) -> None:
    agents = [online("a1", hostname="pc-1", version="1"), online("a2", hostname="pc-2", version="1")]
    cloud.heartbeat("s1", agents)
    revisions = agent_revisions()
    site_revision = SiteModel.get("s1").revision

    for _ in range(5):  # steady state: 30 s heartbeats, nothing changed
        cloud.clock.advance(30)
        agents = [{**a, "last_seen": cloud.clock.now} for a in agents]
        out = cloud.heartbeat("s1", agents)
        assert (out["agents_written"], out["agents_offlined"]) == (0, 0)
    assert agent_revisions() == revisions
    # the site's last_heartbeat is refreshed at most once a minute (2 of the 5 heartbeats)
    assert SiteModel.get("s1").revision == site_revision + 2

    cloud.clock.advance(30)
    changed = [online("a1", hostname="pc-1", version="2"), agents[1]]
    assert cloud.heartbeat("s1", changed)["agents_written"] == 1
    assert agent_revisions() == {"a1": revisions["a1"] + 1, "a2": revisions["a2"]}
    assert cloud.get("/api/agents/a1").json_body["data"]["version"] == "2"


def test_full_heartbeat_offlines_missing_agents(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.clock.advance(30)
    out = cloud.heartbeat("s1", [online("a1")])
    assert (out["agents_written"], out["agents_offlined"]) == (0, 1)
    assert cloud.get("/api/agents/a2").json_body["data"]["status"] == "offline"
    cloud.clock.advance(30)
    assert cloud.heartbeat("s1", [online("a1")])["agents_offlined"] == 0  # already offline: no write


def test_partial_heartbeat_touches_only_listed_agents(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.clock.advance(10)
    out = cloud.heartbeat("s1", [{"agent_id": "a2", "status": "offline"}], full=False)
    assert (out["agents_written"], out["agents_offlined"]) == (1, 0)
    assert cloud.get("/api/agents/a1").json_body["data"]["status"] == "online"
    assert cloud.get("/api/agents/a2").json_body["data"]["status"] == "offline"


def test_agent_moving_between_sites(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")])
    cloud.clock.advance(10)
    # another site's heartbeat never moves it (issue 11 item 1): an admin does
    out = cloud.heartbeat("s2", [online("a1")])
    assert (out["agents_written"], list(out["agents_refused"])) == (0, ["a1"])
    assert cloud.get("/api/agents/a1").json_body["data"]["site_id"] == "s1"
    assert cloud.post("/api/agents/a1/move", {"site_id": "s2"}).status_code == 200
    cloud.clock.advance(10)
    assert cloud.heartbeat("s2", [online("a1")])["agents_written"] == 1
    assert cloud.get("/api/agents/a1").json_body["data"]["site_id"] == "s2"
    cloud.clock.advance(10)
    # s1 no longer lists it: it belongs to s2 now and stays online
    assert cloud.heartbeat("s1", [])["agents_offlined"] == 0
    assert cloud.get("/api/agents/a1").json_body["data"]["status"] == "online"


def test_stale_heartbeat_is_ignored(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")])
    out = cloud.heartbeat("s1", [{"agent_id": "a1", "status": "offline"}], ts=cloud.clock.now - 60)
    assert out["stale"] is True and out["agents_written"] == 0
    assert cloud.get("/api/agents/a1").json_body["data"]["status"] == "online"


def test_heartbeat_from_the_future_is_clamped(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1")], ts=cloud.clock.now + 86_400)
    cloud.clock.advance(30)
    out = cloud.heartbeat("s1", [{"agent_id": "a1", "status": "offline"}])
    assert out["stale"] is False and out["agents_written"] == 1


@pytest.mark.parametrize(
    "event",
    [
        {"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1"},  # no site_id
        {"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1", "site_id": 7},
        {"type": "site_heartbeat", "v": 1, "timestamp": -1, "lms_version": "1", "site_id": "s1"},
        {"type": "site_heartbeat", "v": 2, "timestamp": 1, "lms_version": "1", "site_id": "s1"},
        {"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1", "site_id": "s1",
         "agents": [{"agent_id": "bad/id", "status": "online"}]},
        {"type": "site_heartbeat", "v": 1, "timestamp": 1, "lms_version": "1", "site_id": "s1", "extra": 1},
    ],
)
def test_bad_heartbeats_are_dropped(cloud: Cloud, event: dict[str, Any]) -> None:
    outcome = cloud.invoke("site_heartbeat", event)
    assert outcome["ok"] is False and outcome["error"]["code"] == "bad_payload"
    assert sum(1 for _ in SiteModel.scan()) == 0


def test_heartbeats_report_the_sites_certificates_about_to_lapse(cloud: Cloud) -> None:
    """Issue 19: the LMS names its certificates within their warning period; the cloud shows them on the site and
    keeps them through heartbeats of older LMSs (which send none); a bad name refuses the heartbeat."""
    agents = [online("a1")]
    base = {"type": "site_heartbeat", "v": 1, "lms_version": "1.0.0", "full": True, "agents": agents,
            "site_id": "s1"}  # fmt: skip
    cloud.invoke("site_heartbeat", {**base, "timestamp": cloud.clock.now, "certificates_expiring": ["cloud", "lms"]})
    assert cloud.get("/api/lms/s1").json_body["data"]["certificates_expiring"] == ["cloud", "lms"]
    cloud.clock.advance(5)
    cloud.heartbeat("s1", agents)  # an older LMS: nothing reported, nothing forgotten
    assert cloud.get("/api/lms/s1").json_body["data"]["certificates_expiring"] == ["cloud", "lms"]
    cloud.clock.advance(5)
    cloud.invoke("site_heartbeat", {**base, "timestamp": cloud.clock.now, "certificates_expiring": []})  # renewed
    assert cloud.get("/api/lms/s1").json_body["data"]["certificates_expiring"] == []
    out = cloud.invoke("site_heartbeat", {**base, "timestamp": cloud.clock.now,
                                          "certificates_expiring": ["<script>"]})  # fmt: skip
    assert out["ok"] is False
    assert cloud.get("/api/lms/s1").json_body["data"]["certificates_expiring"] == []


def test_a_site_clock_stepped_back_is_not_stale_for_the_length_of_the_step(cloud: Cloud) -> None:
    """An LMS whose clock is stepped back an hour (NTP, a chaos clock_jump): its heartbeats, an hour behind the
    last one, are taken as sent now — not ignored as stale for an hour; a slightly late one still is stale."""
    cloud.heartbeat("s1", [online("a1")])
    cloud.clock.advance(10)
    out = cloud.heartbeat("s1", [{"agent_id": "a1", "status": "offline"}], ts=cloud.clock.now - 3600)
    assert out["stale"] is False and out["agents_written"] == 1
    assert cloud.get("/api/agents/a1").json_body["data"]["status"] == "offline"
    cloud.clock.advance(10)
    late = cloud.heartbeat("s1", [online("a1")], ts=cloud.clock.now - 30)
    assert late["stale"] is True
