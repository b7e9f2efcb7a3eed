"""One command id end to end, on the local twin (issue 14): a batch to a site's three agents shows every hop of
every agent with its time in ``GET /api/commands/{id}``, and each agent's own log names the cloud's command id;
a command to an offline agent goes ``queued`` -> ``running`` -> ``succeeded`` in the cloud once the agent is back."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from infra.local.process import wait_for
from infra.local.twin import Twin
from tests.e2e.test_walking_skeleton import call

pytestmark = pytest.mark.e2e

AGENTS = ("pc-a", "pc-b", "pc-c")  # the agents of the module's twin (tests/e2e/conftest.py)
HOPS = ["created", "sent", "received", "delivered", "started", "finished", "stored"]


def create(twin: Twin, body: dict[str, Any]) -> str:
    status, created = call(twin, "POST", "/api/commands", body)
    assert status == 202, created
    return str(created["data"]["command_id"])


def get(twin: Twin, command_id: str) -> dict[str, Any]:
    status, got = call(twin, "GET", f"/api/commands/{command_id}")
    assert status == 200, got
    record: dict[str, Any] = got["data"]
    return record


def until_done(twin: Twin, command_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = get(twin, command_id)
        if record["status"] != "pending":
            return record
        time.sleep(0.1)
    raise AssertionError(f"command {command_id} still pending after {timeout_s} s: {record}")


def agent_log(twin: Twin, agent_id: str) -> str:
    return (twin.workdir / "logs" / f"{agent_id}.log").read_text(errors="replace")


def test_a_batch_shows_every_hop_of_every_agent_and_each_agent_logs_the_command_id(twin: Twin) -> None:
    command_id = create(twin, {"site_id": twin.opt.site_id, "command": "exec", "params": {"cmd": "echo hop"}})
    record = until_done(twin, command_id)
    assert record["status"] == "succeeded", record
    assert sorted(record["results"]) == sorted(AGENTS)
    for agent_id in AGENTS:
        outcome = record["results"][agent_id]
        assert outcome["status"] == "succeeded" and outcome["data"]["stdout"] == "hop\n"
        hops = outcome["hops"]
        assert list(hops) == HOPS, (agent_id, hops)
        times = [hops[h] for h in HOPS]
        # one machine, one clock: the hops are in time order (to the ms the cloud stores them in)
        assert all(later >= earlier - 0.002 for earlier, later in itertools.pairwise(times)), hops
    for agent_id in AGENTS:  # the agent's own log, matched to the dashboard by the cloud's id
        wait_for(f"{agent_id}'s log to name the command", lambda a=agent_id: f"command_id={command_id}" in
                 agent_log(twin, a), 10.0)  # fmt: skip
    lms_log = (twin.workdir / "logs" / "lms.log").read_text(errors="replace")
    for hop in ("received", "delivered", "finished"):
        assert f"fanout: {hop} command_id={command_id}" in lms_log
    cloud_log = (twin.workdir / "logs" / "cloud.log").read_text(errors="replace")
    assert f"command sent to site command_id={command_id}" in cloud_log
    # the intake logs a stored result after its write: the record may show it a moment before the line is written
    stored = f"result stored command_id={command_id} agent_id=pc-a status=succeeded"
    wait_for("the cloud's log to name the stored result", lambda: stored in (twin.workdir / "logs" / "cloud.log")
             .read_text(errors="replace"), 10.0)  # fmt: skip


def test_a_command_to_an_offline_agent_is_queued_then_runs_when_it_returns(twin: Twin) -> None:
    agent_id = "pc-c"
    twin.agents[agent_id].stop()
    wait_for("the LMS to see pc-c offline", lambda: agent_id not in {
        c["uuid"] for c in twin.lms_api("/api/clients/online", twin.lms_token)["data"]["clients"]}, 20.0)  # fmt: skip
    command_id = create(twin, {"agent_id": agent_id, "command": "exec", "params": {"cmd": "sleep 3; echo back"}})
    seen: list[str] = []

    def status() -> str:
        current = get(twin, command_id)["results"][agent_id]["status"]
        if not seen or seen[-1] != current:
            seen.append(current)
        return str(current)

    wait_for("the cloud to show the command queued", lambda: status() == "queued", 20.0)
    time.sleep(2.0)  # it stays queued while the agent is away
    assert status() == "queued"
    twin.start_agent(agent_id)
    wait_for("the command to finish", lambda: status() == "succeeded", 60.0, every_s=0.1)
    order = ["pending", "queued", "delivered", "running", "succeeded"]
    assert [s for s in seen if s != "delivered"] == ["pending", "queued", "running", "succeeded"], seen
    assert seen == sorted(seen, key=order.index), seen  # only ever forward
    outcome = get(twin, command_id)["results"][agent_id]
    assert outcome["data"]["stdout"] == "back\n"
    hops = outcome["hops"]
    assert list(hops) == ["created", "sent", "received", "queued", "delivered", "started", "finished", "stored"]
    assert hops["delivered"] - hops["queued"] >= 2.0  # it waited in the site's queue for the agent
    assert f"command_id={command_id}" in agent_log(twin, agent_id)
