"""Enrolment end to end: the real LMS (``python -m edge.lms`` with ``[site_broker.dynsec]``), real agent
processes (``python -m edge.agent`` with ``[enroll]``) and a real Mosquitto running the dynsec plugin."""

from __future__ import annotations

import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.ports import free_port
from tests.fixtures.brokers import Broker
from tests.integration.enrollment.agent_proc import AgentProc
from tests.integration.enrollment.conftest import ADMIN_USER, LMS_USER, DynsecBroker
from tests.integration.lms.lms_harness import LmsProcess, eventually, lms_config_text

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "ctl_" + secrets.token_urlsafe(32)


@pytest.fixture
def lms(dynsec_broker: DynsecBroker, tmp_path: Path) -> Iterator[LmsProcess]:
    workdir = tmp_path / "lms"
    workdir.mkdir()
    text = lms_config_text(
        site_broker=dynsec_broker, cloud_port=None, http_port=free_port(), db_path=workdir / "lms.db",
        settings={"presence_timeout_s": 120},  # offline below comes from status messages, not silence
    )
    # The broker of these tests is plain, on loopback (TLS on the LAN is test_site_tls.py's subject).
    text += f'\n[site_broker.dynsec]\nusername = "{ADMIN_USER}"\ntimeout_s = 5\nadvertise_tls = false\n'
    process = LmsProcess(workdir, text, dynsec_broker.passwords[LMS_USER])
    process.env["CLASSTOP_LMS_DYNSEC_PASSWORD"] = dynsec_broker.admin_password
    process.env["CLASSTOP_LMS_ADMIN_TOKEN"] = ADMIN_TOKEN
    process.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    try:
        with process.running():
            yield process
    finally:
        print(process.log()[-4000:])  # shown by pytest when the test failed


@pytest.fixture
def agents(tmp_path: Path, lms: LmsProcess) -> Iterator[dict[str, AgentProc]]:
    made: dict[str, AgentProc] = {}
    ca_hash = lms.http.get("/api/enrolment-tokens").json()["data"]["ca_hash"]

    class Factory(dict[str, AgentProc]):
        def __missing__(self, agent_id: str) -> AgentProc:
            made[agent_id] = self[agent_id] = AgentProc(tmp_path / agent_id, agent_id, lms.base_url, ca_hash)
            return made[agent_id]

    try:
        yield Factory()
    finally:
        for agent in made.values():
            agent.kill()
            print(f"--- {agent.agent_id}\n{agent.output()[-3000:]}")


def _new_token(lms: LmsProcess, max_uses: int = 1, ttl_s: int = 600) -> str:
    r = lms.http.post("/api/enrolment-tokens", json={"ttl_s": ttl_s, "max_uses": max_uses, "note": "test"})
    assert r.status_code == 201, r.text
    token: str = r.json()["data"]["token"]
    return token


def _error(r: Any) -> tuple[int, str]:
    body = r.json()
    assert body["success"] is False
    return r.status_code, body["error_code"]


def test_agents_enrol_connect_keep_their_identity_and_revocation_cuts_one_off(
    lms: LmsProcess, agents: dict[str, AgentProc]
) -> None:
    token = _new_token(lms, max_uses=2)
    room1, room2 = agents["room-1"].start(token), agents["room-2"].start(token)
    lms.wait_agents("room-1", "room-2", timeout=20)
    for agent in (room1, room2):
        creds = json.loads(agent.credentials_path.read_text())
        assert creds["agent_id"] == creds["username"] == agent.agent_id
        assert stat.S_IMODE(agent.credentials_path.stat().st_mode) == 0o600
    listing = lms.http.get("/api/enrolment-tokens").json()["data"]
    assert [t["uses"] for t in listing["tokens"]] == [2]
    assert token not in json.dumps(listing)
    assert [e["agent_id"] for e in listing["enrollments"]] == ["room-1", "room-2"]

    # A restart with no token at all: the stored credentials are used (the token is used up anyway).
    before = room1.credentials_path.read_bytes()
    assert room1.stop() == 0
    lms.wait_agent("room-1", "offline", timeout=10)
    room1.start(None)
    lms.wait_agent("room-1", timeout=20)
    assert room1.credentials_path.read_bytes() == before

    # Revocation: room-2 is cut off at once; its one re-enrolment attempt fails on the used-up token.
    r = lms.http.delete("/api/clients/room-2/credentials")
    assert r.status_code == 200, r.text
    lms.wait_agent("room-2", "offline", timeout=15)
    eventually(lambda: "refused enrolment (403)" in room2.output(), 15, what="room-2 tried to re-enrol once")
    assert lms.client_info("room-1")["status"] == "online"  # type: ignore[index]
    assert _error(lms.http.delete("/api/clients/room-2/credentials")) == (404, "unknown_agent")
    entries = lms.http.get("/api/audit", params={"action": "credentials:revoke"}).json()["data"]["entries"]
    assert [(e["target"], e["result"]) for e in entries] == [
        ("room-2", "refused: agent 'room-2' has no broker credentials"),
        ("room-2", "ok"),
    ]


def test_a_revoked_agent_with_a_fresh_token_re_enrols_once_and_comes_back(
    lms: LmsProcess, agents: dict[str, AgentProc]
) -> None:
    agent = agents["room-3"].start(_new_token(lms, max_uses=2))
    lms.wait_agent("room-3", timeout=20)
    first = json.loads(agent.credentials_path.read_text())["password"]
    assert lms.http.delete("/api/clients/room-3/credentials").status_code == 200
    # The broker refuses the old password; the agent re-enrols with its (still valid) token and reconnects.
    eventually(
        lambda: json.loads(agent.credentials_path.read_text())["password"] != first, 20, what="new credentials"
    )
    lms.wait_agent("room-3", timeout=20)
    assert agent.stop() == 0


def test_an_agent_with_a_bad_token_stops_with_a_clear_error_and_writes_nothing(
    lms: LmsProcess, agents: dict[str, AgentProc]
) -> None:
    agent = agents["room-9"].start("cte_not-a-real-token")
    assert agent.proc is not None
    assert agent.proc.wait(30) == 1
    out = agent.output()
    assert "refused enrolment (401)" in out and "invalid enrolment token" in out
    assert not agent.credentials_path.exists()
    assert not list(agent.state_dir.glob(".credentials*"))


def test_bad_enrolment_requests_get_clear_4xx(lms: LmsProcess, dynsec_broker: DynsecBroker) -> None:
    http = lms.http
    enroll = "/api/enroll"
    no_auth = {"Authorization": ""}
    assert _error(http.post(enroll, json={"token": "cte_nope", "hostname": "h"})) == (401, "unauthorized")
    assert _error(http.post(enroll, json={"token": "x", "agent_id": "a/b", "hostname": "h"}))[0] == 422
    assert _error(http.post(enroll, json={"token": "x"}))[0] == 422
    assert _error(http.post(enroll, json={"token": "x", "hostname": "h", "extra": 1}))[0] == 422
    assert _error(http.post(enroll, content=b"{not json", headers={"Content-Type": "application/json"}))[0] == 400
    # Token management is for admins only.
    assert _error(http.post("/api/enrolment-tokens", json={"ttl_s": 600}, headers=no_auth))[0] == 401
    assert _error(http.delete("/api/clients/x/credentials", headers=no_auth))[0] == 401
    assert _error(http.post("/api/enrolment-tokens", json={"ttl_s": 1}))[0] == 422
    assert _error(http.post("/api/enrolment-tokens", json={"max_uses": 0}))[0] == 422
    # A used-up token, and a reserved agent id (which costs no use).
    token = _new_token(lms, max_uses=1)
    assert _error(http.post(enroll, json={"token": token, "agent_id": "lms", "hostname": "h"})) == (
        422, "bad_payload",
    )
    r = http.post(enroll, json={"token": token, "hostname": "h"}, headers=no_auth)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["mqtt"]["username"] == data["agent_id"] and data["mqtt"]["port"] == dynsec_broker.port
    assert _error(http.post(enroll, json={"token": token, "agent_id": "pc-2", "hostname": "h"})) == (
        403, "forbidden",
    )
    assert dynsec_broker.client(data["agent_id"], data["mqtt"]["password"], client_id=data["agent_id"])


def test_without_dynsec_enrolment_is_off_and_says_so(site_broker: Broker, tmp_path: Path) -> None:
    text = lms_config_text(site_broker=site_broker, cloud_port=None, http_port=free_port(), db_path=tmp_path / "l.db")
    process = LmsProcess(tmp_path, text, site_broker.passwords["lms"])
    process.env["CLASSTOP_LMS_ADMIN_TOKEN"] = ADMIN_TOKEN
    process.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    with process.running():
        r = process.http.post("/api/enroll", json={"token": "cte_x", "hostname": "h"})
        assert _error(r) == (501, "not_supported") and "[site_broker.dynsec]" in r.json()["error"]
        assert _error(process.http.post("/api/enrolment-tokens", json={}))[0] == 501
        assert process.http.get("/api/clients/").status_code == 200  # everything else as before
