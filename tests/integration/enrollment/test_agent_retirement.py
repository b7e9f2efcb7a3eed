"""Retiring an agent end to end: the real LMS (with ``[site_broker.dynsec]``), real agent processes and a real
Mosquitto with the dynamic-security plugin. A retired agent is cut off at once and stays out: the broker refuses
its password, the enrolment token it still holds no longer enrols it, its rows leave the live fleet for the
archive, its queued commands are cancelled; a token made after the retirement brings the id back."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from edge.lms.cli import TOKEN_ENV
from tests.integration.enrollment import test_enrollment_e2e as e2e
from tests.integration.enrollment.agent_proc import AgentProc
from tests.integration.lms.lms_harness import REPO, LmsProcess, eventually

pytestmark = pytest.mark.integration

# The fixtures of the enrolment tests: an LMS with dynsec on a real broker, agents that enrol with it.
lms, agents = e2e.lms, e2e.agents
ADMIN_TOKEN, _new_token = e2e.ADMIN_TOKEN, e2e._new_token


def _cli(lms: LmsProcess, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **lms.env, TOKEN_ENV: token}  # the config needs the broker password the LMS has
    return subprocess.run([sys.executable, "-m", "edge.lms", "--config", str(lms.config_path), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def _audit(lms: LmsProcess) -> list[tuple[str, str]]:
    entries = lms.http.get("/api/audit", params={"action": "agent:retire"}).json()["data"]["entries"]
    return [(e["target"], e["result"]) for e in entries]


def test_a_retired_agent_is_cut_off_archived_and_comes_back_only_with_a_fresh_token(
    lms: LmsProcess, agents: dict[str, AgentProc]
) -> None:
    old_token = _new_token(lms, max_uses=10)  # uses to spare: a retired PC still holding it must not come back
    room1, room2 = agents["room-1"].start(old_token), agents["room-2"].start(old_token)
    lms.wait_agents("room-1", "room-2", timeout=20)
    assert lms.http.put("/api/clients/room-1/tags", json={"tags": ["lab"]}).status_code == 200

    # room-1 is off for the holidays with a command queued for it.
    assert room1.stop() == 0
    lms.wait_agent("room-1", "offline", timeout=10)
    queued = lms.command("room-1", "ping", queue_if_offline=True, queue_ttl_s=3600)
    assert queued.status_code == 202, queued.text

    # Retire both: room-2 is online (cut off at once), room-1 offline (its queued command cancelled).
    r = lms.http.post("/api/clients/room-2/retire", json={"reason": "scrapped"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["credentials_revoked"] is True
    r = lms.http.post("/api/clients/room-1/retire", json={})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["commands_cancelled"] == 1
    assert lms.http.get("/api/clients/room-1").status_code == 404
    assert lms.http.get("/api/clients/room-2").status_code == 404
    listed = {c["uuid"] for c in lms.http.get("/api/clients/").json()["data"]["clients"]}
    assert not listed & {"room-1", "room-2"}
    queue = lms.http.get("/api/commands/queue", params={"agent": "room-1"}).json()["data"]
    assert [e["state"] for e in queue["items"]] == ["cancelled"]

    # room-2 was disconnected, and its re-enrolment with the token it holds is refused: it stays out.
    eventually(lambda: "refused enrolment (403)" in room2.output(), 20, what="room-2 refused")
    assert "was retired" in room2.output()
    # room-1 comes back from the holidays: its stored password is refused, and so is its old token.
    room1.start(old_token)
    eventually(lambda: "refused enrolment (403)" in room1.output(), 20, what="room-1 refused")
    assert lms.http.get("/api/clients/room-1").status_code == 404

    # The archive keeps what the LMS knew; the live tables no longer hold them.
    archive = lms.http.get("/api/retired-agents").json()["data"]["retired"]
    assert [(e["agent_id"], e["reason"], e["reenrolled_at"]) for e in archive] == [
        ("room-1", None, None), ("room-2", "scrapped", None),
    ]
    assert all(e["retired_by"] for e in archive)
    room1_record = archive[0]["record"]
    assert room1_record["tags"] == ["lab"] and room1_record["agent"]["uuid"] == "room-1"
    assert room1_record["enrolment"]["token_id"] is not None
    with sqlite3.connect(lms.workdir / "lms.db") as db:
        for table, column in (("clients", "uuid"), ("enrollments", "agent_id"), ("agent_tags", "agent_id")):
            assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = 'room-1'").fetchone()[0] == 0
    enrolled = [e["agent_id"] for e in lms.http.get("/api/enrolment-tokens").json()["data"]["enrollments"]]
    assert "room-1" not in enrolled and "room-2" not in enrolled

    # Retiring again is a clear 404; everything is audited.
    again = lms.http.post("/api/clients/room-2/retire")
    assert again.status_code == 404 and "retired already" in again.json()["error"]
    assert _audit(lms) == [
        ("room-2", "refused: agent 'room-2' is retired already"), ("room-1", "ok"), ("room-2", "ok"),
    ]

    # A token made after the retirement brings room-2 back (a fresh password; the archive says so).
    room2.kill()
    room2.start(_new_token(lms))
    lms.wait_agent("room-2", timeout=20)
    back = lms.http.get("/api/retired-agents", params={"agent_id": "room-2"}).json()["data"]["retired"]
    assert back[0]["reenrolled_at"] is not None
    assert json.loads(room2.credentials_path.read_text())["agent_id"] == "room-2"


def test_only_an_admin_retires_and_bad_requests_change_nothing(
    lms: LmsProcess, agents: dict[str, AgentProc]
) -> None:
    agents["room-5"].start(_new_token(lms))
    lms.wait_agent("room-5", timeout=20)
    operator = lms.http.post("/api/tokens", json={"name": "teacher", "role": "operator"}).json()["data"]["token"]
    r = lms.http.post("/api/clients/room-5/retire", headers={"Authorization": f"Bearer {operator}"})
    assert r.status_code == 403
    assert lms.http.post("/api/clients/room-5/retire", headers={"Authorization": ""}).status_code == 401
    assert lms.http.post("/api/clients/room-5/retire", json={"reason": "x" * 201}).status_code == 422
    assert lms.http.post("/api/clients/room-5/retire", json={"why": "x"}).status_code == 422
    assert lms.http.post("/api/clients/no-such-pc/retire").status_code == 404
    assert lms.client_info("room-5")["status"] == "online"  # type: ignore[index]

    # The CLI goes through the running LMS's API with an admin token.
    cli = _cli(lms, "agent", "retire", "room-5", "--reason", "moved", token=ADMIN_TOKEN)
    assert cli.returncode == 0, cli.stderr
    assert "agent room-5 retired: credentials revoked" in cli.stdout
    assert lms.http.get("/api/clients/room-5").status_code == 404
    refused = _cli(lms, "agent", "retire", "room-5", token=ADMIN_TOKEN)
    assert refused.returncode == 2 and "retired already" in refused.stderr
    assert _cli(lms, "agent", "retire", "room-5", token="").returncode == 2
