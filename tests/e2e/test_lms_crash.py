"""A crashed LMS loses no command (issue 17), on the local twin:

* ``kill -9`` of the LMS while the cloud sends 30 ``exec`` commands (one every 0.2 s) to an agent with 4 command
  slots, the LMS kept down a few seconds: every command ends ``succeeded`` and ran exactly once on the agent (its
  runs file) — the burst queued for the site is paced by the agent's slots, ``busy`` is asked again, the command
  running at the kill gets its answer to the cloud;
* the twin's supervisor restarts a ``kill -9``-ed LMS and agent (with backoff; counted and logged);
* the twin runs the cloud's command sweeper on its schedule: a command whose site never reports ends ``expired``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.process import wait_for
from infra.local.twin import Twin, _items
from tests.e2e.test_walking_skeleton import call
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.e2e

AGENT = "pc-1"
DELIVERY_WINDOW_S = 60


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    """A twin whose cloud sweeps every 2 s and gives commands a 60 s delivery window."""
    before = os.environ.get("CLASSTOP_COMMAND_DELIVERY_WINDOW_S")
    os.environ["CLASSTOP_COMMAND_DELIVERY_WINDOW_S"] = str(DELIVERY_WINDOW_S)
    try:
        with running_twin("ct-lms-crash-", agent_ids=(AGENT,), site_heartbeat_s=2.0, schedule_every_s=2.0) as twin:
            yield twin
    finally:
        if before is None:
            os.environ.pop("CLASSTOP_COMMAND_DELIVERY_WINDOW_S", None)
        else:
            os.environ["CLASSTOP_COMMAND_DELIVERY_WINDOW_S"] = before


def send_exec(twin: Twin, line: str) -> str:
    status, created = call(twin, "POST", "/api/commands",
                           {"agent_id": AGENT, "command": "exec", "params": {"cmd": line, "timeout_s": 30}})
    assert status == 202, created
    return str(created["data"]["command_id"])


def record(twin: Twin, command_id: str) -> dict[str, Any]:
    status, got = call(twin, "GET", f"/api/commands/{command_id}")
    assert status == 200, got
    data: dict[str, Any] = got["data"]
    return data


def ended(twin: Twin, command_ids: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def all_ended() -> bool:
        for command_id in command_ids:
            if found.get(command_id, {}).get("status") in (None, "pending"):
                found[command_id] = record(twin, command_id)
        return all(r["status"] != "pending" for r in found.values()) and len(found) == len(command_ids)

    wait_for("every command to end", all_ended, timeout_s, every_s=0.5)
    return found


def lms_back(twin: Twin) -> bool:
    health = twin.lms_api("/api/health")["data"]
    return bool(health["site_broker"]["connected"] and (health["cloud"] or {}).get("connected"))


def test_kill_9_of_the_lms_while_the_cloud_sends_exec_commands_loses_none(twin: Twin) -> None:
    runs = twin.workdir / "runs.log"
    runs.touch()
    runs.chmod(0o666)
    command_ids: list[str] = []
    markers: dict[str, str] = {}

    def workload() -> None:
        for i in range(30):
            marker = f"crash-{i}"
            command_id = send_exec(twin, f"echo {marker} >> {runs}; sleep 1")
            command_ids.append(command_id)
            markers[command_id] = marker
            time.sleep(0.2)

    sender = threading.Thread(target=workload)
    sender.start()
    wait_for("a few commands running", lambda: len(runs.read_text().split()) >= 3, 30)
    assert twin.lms is not None
    twin.supervisor.hold("LMS")  # down for a while, as the 20 s (shorter here)
    twin.lms.kill(signal.SIGKILL)
    time.sleep(5)
    twin.supervisor.release("LMS")
    sender.join()
    wait_for("the LMS back", lambda: lms_back(twin), 60)
    records = ended(twin, command_ids, 120)

    counts = Counter(runs.read_text().split())
    for command_id in command_ids:
        outcome = records[command_id]["results"][AGENT]
        assert outcome["status"] == "succeeded", (command_id, outcome)
        assert counts[markers[command_id]] == 1, (command_id, counts[markers[command_id]])
    assert twin.supervisor.restarts("LMS") >= 1
    lms_log = (twin.workdir / "logs" / "lms.log").read_text(errors="replace")
    assert "left unfinished by the last run: asked again" in lms_log or "asked again" in lms_log


def test_the_supervisor_restarts_a_killed_lms_and_agent(twin: Twin) -> None:
    assert twin.lms is not None and twin.lms.pid is not None
    lms_before, agent_before = twin.supervisor.restarts("LMS"), twin.supervisor.restarts(f"agent {AGENT}")
    old_lms, old_agent = twin.lms.pid, twin.agents[AGENT].pid
    twin.lms.kill(signal.SIGKILL)
    twin.agents[AGENT].kill(signal.SIGKILL)
    wait_for("both restarted", lambda: twin.supervisor.restarts("LMS") > lms_before
             and twin.supervisor.restarts(f"agent {AGENT}") > agent_before, 60)
    assert twin.lms.pid != old_lms and twin.agents[AGENT].pid != old_agent
    wait_for("the LMS back with its agent online", lambda: lms_back(twin) and AGENT in {
        c["uuid"] for c in _items(twin.lms_api("/api/clients/online", twin.lms_token))}, 60)
    # and it still runs commands
    command_id = send_exec(twin, "echo back")
    assert ended(twin, [command_id], 60)[command_id]["results"][AGENT]["status"] == "succeeded"


@pytest.mark.timeout(300)
def test_a_command_whose_site_never_reports_is_expired_by_the_sweeper(twin: Twin) -> None:
    assert twin.lms is not None
    twin.supervisor.hold("LMS")
    twin.lms.stop()  # the site is away for longer than the delivery window
    try:
        command_id = send_exec(twin, "echo never")
        outcome = ended(twin, [command_id], DELIVERY_WINDOW_S + 60)[command_id]
        assert outcome["status"] == "expired", outcome
        assert outcome["results"][AGENT]["status"] == "expired"
    finally:
        twin.lms.start()
        twin.supervisor.release("LMS")
        wait_for("the LMS back", lambda: lms_back(twin), 60)
