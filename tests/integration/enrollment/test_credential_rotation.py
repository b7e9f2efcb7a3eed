"""Issue 19, "Rotate": agents' broker credentials (one agent, the whole site) and API tokens, rotated live.

Real LMS, real TLS site broker with dynamic security, real enrolled agents (tests/integration/enrollment/tls_site.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.enrollment.site_lan import pinned_context
from tests.integration.enrollment.tls_site import PresenceWatch, broker_accepts, tls_site
from tests.integration.lms.lms_harness import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ct-creds-broker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _password(agent_dir: Path) -> tuple[str, str | None]:
    creds = json.loads((agent_dir / "state" / "credentials.json").read_text())
    return creds["password"], creds.get("previous_password")


def test_broker_credentials_rotate_per_agent_and_per_site_without_dropping_agents(
    tmp_path: Path, broker_dir: Path
) -> None:
    with tls_site(tmp_path, broker_dir, ["room-1", "room-2"]) as site:
        old_1, _ = _password(site.agents[0].workdir)
        since = time.time()
        with PresenceWatch(site) as watch:
            eventually(lambda: watch.samples >= 3, 30, what="presence sampled")
            # operations.md: rotate one agent's broker credentials
            body = site.api_post("/api/agents/room-1/broker-credentials/rotate")
            assert body["rotated"] == 1 and body["failed"] == 0
            new_1, previous = _password(site.agents[0].workdir)
            assert new_1 != old_1 and previous == old_1
            # the broker ended room-1's session; it is back with the new password
            eventually(lambda: site.agents[0].output().count(": connected to ") >= 2, 30, what="room-1 reconnected")
            site.wait_online("room-1", 30)
            assert not broker_accepts(site, "room-1", old_1, "room-1")  # the old password is disabled
            # ... the whole site at once
            old = {a.agent_id: _password(a.workdir)[0] for a in site.agents}
            body = site.api_post("/api/broker-credentials/rotate")
            assert sorted(r["agent_id"] for r in body["results"] if r["rotated"]) == ["room-1", "room-2"]
            for agent in site.agents:
                assert _password(agent.workdir)[0] != old[agent.agent_id]
                assert not broker_accepts(site, agent.agent_id, old[agent.agent_id], f"{agent.agent_id}-probe")
            for agent in site.agents:
                site.wait_online(agent.agent_id, 30)
            samples = watch.samples
            eventually(lambda: watch.samples >= samples + 3, 30, what="presence sampled after")
        assert watch.failures == [] and watch.missing == []
        assert site.disconnects(since) == []  # no "offline" ever reached the LMS: the broker sent no will
        # the new passwords are nowhere in the LMS's database (the journal hides them)
        raw = b"".join(p.read_bytes() for p in site.lms.workdir.glob("lms.db*"))
        for agent in site.agents:
            assert _password(agent.workdir)[0].encode() not in raw
        # nobody can send the rotation command on an agent's behalf: not an admin through the API
        reply = site.request("POST", "/api/clients/room-2/command",
                             {"command": "rotate_broker_password", "params": {"password": "x" * 32}})
        assert reply.status_code in (400, 403), reply.text
        assert "sent only by the LMS" in reply.text
        # an unknown agent: a clear refusal, nothing changed
        reply = site.request("POST", "/api/agents/nobody/broker-credentials/rotate")
        assert reply.status_code == 409 and "nothing changed" in reply.text


def test_api_tokens_rotate_with_a_grace_period(tmp_path: Path, broker_dir: Path) -> None:
    with tls_site(tmp_path, broker_dir, []) as site:
        created = site.api_post("/api/tokens", {"name": "dashboard", "role": "viewer"})
        old_id, old = created["id"], created["token"]

        def reads_as(token: str) -> int:
            with httpx.Client(base_url=site.url, verify=pinned_context(site.ca_file),
                              headers={"Authorization": f"Bearer {token}"}) as api:  # fmt: skip
                return api.get("/api/site-tls").status_code

        rotated = site.api_post(f"/api/tokens/{old_id}/rotate")
        assert rotated["replaces"] == old_id and rotated["token"] != old
        listed = {t["id"]: t for t in site.api_get("/api/tokens")["tokens"]}
        assert listed[rotated["id"]]["name"] == "dashboard" and listed[rotated["id"]]["role"] == "viewer"
        assert reads_as(old) == 200 and reads_as(rotated["token"]) == 200  # the grace period: both work
        assert site.request("DELETE", f"/api/tokens/{old_id}").status_code == 200
        assert reads_as(old) == 401 and reads_as(rotated["token"]) == 200
        # a revoked or unknown token cannot be rotated
        assert site.request("POST", f"/api/tokens/{old_id}/rotate").status_code == 409
        assert site.request("POST", "/api/tokens/9999/rotate").status_code == 404
