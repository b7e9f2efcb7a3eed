"""Agent upgrades end to end: a real LMS, the real site broker, real agents under the upgrade supervisor.

* A good package goes out in waves (canary first) and every agent comes back online on the new version.
* A package whose new version never comes online: the canary rolls back by itself, the campaign stops.
* Refused, with nothing changed: a tampered package, a wrong checksum, a package not signed by the release key
  (from the LMS's CLI, or served by a LAN host), a replayed old version (downgrade).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.agent_packages import ReleaseKey, build_package
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import REPO, LmsFactory, LmsProcess, eventually
from tests.integration.lms.upgrade_harness import SupervisedAgent

pytestmark = pytest.mark.timeout(240)
AGENT_IDS = ("agent-1", "agent-2", "agent-3")
ROLLBACK_S = 8


@pytest.fixture
def release() -> ReleaseKey:
    return ReleaseKey()


@pytest.fixture
def lms(lms_factory: LmsFactory, release: ReleaseKey) -> LmsProcess:
    upgrades = {"release_public_key": release.public, "rollback_s": ROLLBACK_S, "grace_s": 6}
    return lms_factory(settings={"upgrades": upgrades}).start()


@pytest.fixture
def fleet(tmp_path: Path, site_broker: Broker, release: ReleaseKey) -> Iterator[Callable[..., list[SupervisedAgent]]]:
    """Start supervised agents seeded with version 1.0.0; stopped after the test (their logs printed)."""
    made: list[SupervisedAgent] = []
    base = build_package("1.0.0")

    def start(*agent_ids: str) -> list[SupervisedAgent]:
        for agent_id in agent_ids:
            if agent_id not in site_broker.passwords:
                site_broker.add_user(agent_id)
            agent = SupervisedAgent(tmp_path / agent_id, site_broker, agent_id, release.public)
            agent.slots.seed("1.0.0", base)
            made.append(agent.start())
        return made[-len(agent_ids):]

    yield start
    for agent in made:
        agent.stop()
        print(f"---- {agent.agent_id}\n{agent.log()[-3000:]}")


def add_package(lms: LmsProcess, version: str, data: bytes, signature: str) -> subprocess.CompletedProcess[str]:
    path = lms.workdir / f"pkg-{version}.tar.gz"
    path.write_bytes(data)
    return subprocess.run(
        [sys.executable, "-m", "edge.lms.upgrades", "add-package", "--config", str(lms.config_path),
         "--version", version, "--signature", signature, str(path)],
        cwd=REPO, env=lms.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def campaign_done(lms: LmsProcess, campaign_id: int) -> Callable[[], dict[str, Any] | None]:
    def check() -> dict[str, Any] | None:
        data: dict[str, Any] = lms.http.get(f"/api/upgrades/campaigns/{campaign_id}").json()["data"]
        return data if data["state"] != "running" else None

    return check


def test_good_package_upgrades_three_agents_in_waves(lms: LmsProcess, fleet: Callable[..., list[SupervisedAgent]],
                                                     release: ReleaseKey) -> None:  # fmt: skip
    agents = fleet(*AGENT_IDS)
    for agent_id in AGENT_IDS:
        assert lms.wait_agent(agent_id, timeout=30)["version"] == "1.0.0"
    package = build_package("1.1.0")
    added = add_package(lms, "1.1.0", package, release.sign("1.1.0", package))
    assert added.returncode == 0, added.stderr
    listed = lms.http.get("/api/upgrades/packages").json()["data"]["packages"]
    assert [p["version"] for p in listed] == ["1.1.0"]

    r = lms.http.post("/api/upgrades/campaigns", json={"version": "1.1.0", "canary_percent": 10, "wave_size": 1})
    assert r.status_code == 201, r.text
    campaign = r.json()["data"]
    assert [(a["agent_id"], a["wave"]) for a in campaign["agents"]] == [("agent-1", 0), ("agent-2", 1), ("agent-3", 2)]
    again = lms.http.post("/api/upgrades/campaigns", json={"version": "1.1.0"})
    assert again.status_code == 409 and "another campaign is running" in again.json()["error"]

    done = eventually(campaign_done(lms, campaign["id"]), 150, 0.5, "campaign finished")
    assert done["state"] == "succeeded", done
    assert {(a["agent_id"], a["state"], a["from_version"], a["version"]) for a in done["agents"]} == {
        (agent_id, "upgraded", "1.0.0", "1.1.0") for agent_id in AGENT_IDS
    }
    by_id = {a["agent_id"]: a for a in done["agents"]}
    # waves in order: each started after the one before had upgraded
    assert by_id["agent-1"]["updated_at"] < by_id["agent-2"]["updated_at"] < by_id["agent-3"]["updated_at"]
    for agent in agents:
        assert lms.wait_agent(agent.agent_id)["version"] == "1.1.0"
        assert agent.slots.current() == "1.1.0" and agent.slots.pending() is None
        assert agent.installed() == ["1.0.0", "1.1.0"]  # the previous version is kept
        assert (agent.slots.last() or {})["result"] == "confirmed"
    listed_campaigns = lms.http.get("/api/upgrades/campaigns").json()["data"]["campaigns"]
    assert [(c["id"], c["state"]) for c in listed_campaigns] == [(campaign["id"], "succeeded")]
    audit = lms.http.get("/api/audit").json()["data"]["entries"]
    assert any(e["action"] == "upgrade:campaign" and e["target"] == f"#{campaign['id']}" for e in audit), audit


def test_version_that_never_comes_online_rolls_back_and_stops_the_campaign(
    lms: LmsProcess, fleet: Callable[..., list[SupervisedAgent]], release: ReleaseKey
) -> None:
    agents = fleet(*AGENT_IDS)
    lms.wait_agents(*AGENT_IDS, timeout=30)
    broken = build_package("1.2.0", broken=True)
    assert add_package(lms, "1.2.0", broken, release.sign("1.2.0", broken)).returncode == 0

    r = lms.http.post("/api/upgrades/campaigns", json={"version": "1.2.0", "agent_ids": list(AGENT_IDS)})
    assert r.status_code == 201, r.text
    done = eventually(campaign_done(lms, r.json()["data"]["id"]), 150, 0.5, "campaign finished")
    assert done["state"] == "failed" and "rolled_back" in done["detail"]
    states = {a["agent_id"]: (a["state"], a["version"]) for a in done["agents"]}
    assert states == {"agent-1": ("rolled_back", "1.0.0"), "agent-2": ("cancelled", "1.0.0"),
                      "agent-3": ("cancelled", "1.0.0")}  # fmt: skip
    canary = agents[0]
    assert canary.slots.current() == "1.0.0" and canary.slots.pending() is None
    assert (canary.slots.last() or {})["result"] == "rolled_back"
    assert lms.wait_agent("agent-1")["version"] == "1.0.0"
    for agent in agents[1:]:
        assert agent.installed() == ["1.0.0"] and agent.slots.last() is None  # never touched


@contextlib.contextmanager
def lan_host(files: dict[str, bytes]) -> Iterator[str]:
    """A plain HTTP server on loopback standing in for a LAN host (or operator) serving packages."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_bad_packages_are_refused_and_nothing_changes(
    lms: LmsProcess, fleet: Callable[..., list[SupervisedAgent]], release: ReleaseKey
) -> None:
    (agent,) = fleet("agent-1")
    lms.wait_agent("agent-1", timeout=30)
    good = build_package("1.1.0")
    signature = release.sign("1.1.0", good)
    tampered = good[:-40] + bytes(b ^ 0xFF for b in good[-40:])
    attacker = ReleaseKey()

    # the LMS's cache: verified before anything is stored
    refused = add_package(lms, "1.1.0", tampered, signature)
    assert refused.returncode == 1 and "not signed by the release key" in refused.stderr
    refused = add_package(lms, "1.1.0", good, attacker.sign("1.1.0", good))
    assert refused.returncode == 1 and "not signed by the release key" in refused.stderr
    refused = add_package(lms, "1.2.0", good, release.sign("1.2.0", good))  # VERSION file says 1.1.0
    assert refused.returncode == 1 and "VERSION file says '1.1.0'" in refused.stderr
    assert lms.http.get("/api/upgrades/packages").json()["data"]["packages"] == []
    assert not list((lms.workdir.parent / "agent-packages").glob("*.tar.gz"))
    r = lms.http.post("/api/upgrades/campaigns", json={"version": "1.1.0"})
    assert r.status_code == 404 and "no package 1.1.0" in r.json()["error"]

    # the agent: whatever it is sent and whoever serves it
    old = build_package("0.9.0")
    files = {"/good": good, "/tampered": tampered, "/old": old}
    with lan_host(files) as host:
        cases = [
            ({"url": f"{host}/tampered", "sha256": _sha(good), "signature": signature, "version": "1.1.0"},
             "checksum mismatch"),
            ({"url": f"{host}/good", "sha256": "0" * 64, "signature": signature, "version": "1.1.0"},
             "checksum mismatch"),
            ({"url": f"{host}/good", "sha256": _sha(good), "signature": attacker.sign("1.1.0", good),
              "version": "1.1.0"}, "not signed by the release key"),
            ({"url": f"{host}/good", "sha256": _sha(good), "signature": signature, "version": "1.3.0"},
             "not signed by the release key"),  # a signed package relabelled as a newer version
            ({"url": f"{host}/old", "sha256": _sha(old), "signature": release.sign("0.9.0", old), "version": "0.9.0"},
             "not newer than the running 1.0.0"),  # a replayed old package: downgrade
            ({"url": f"{host}/good", "sha256": _sha(good), "signature": signature, "version": "1.0.0"},
             "not newer than the running 1.0.0"),
        ]  # fmt: skip
        for params, why in cases:
            r = lms.command("agent-1", "upgrade_agent", params, timeout_s=60)
            body = r.json()
            assert body["success"] is False and why in body["error"], (params, body)
    assert agent.installed() == ["1.0.0"] and agent.slots.current() == "1.0.0" and agent.slots.pending() is None
    assert not [p for p in agent.slots.versions.iterdir() if p.name.startswith(".")]  # no half-unpacked temp dir
    assert lms.wait_agent("agent-1")["version"] == "1.0.0"

    # a download ticket is for one agent and one version
    assert add_package(lms, "1.1.0", good, signature).returncode == 0
    r = lms.http.get("/api/upgrades/packages/1.1.0/download", params={"agent": "agent-1", "ticket": "9999999999.x"})
    assert r.status_code == 401 and "valid download ticket" in r.json()["error"]

    # campaigns: bad requests refused with the reason, nothing started
    for body, status, why in [
        ({"version": "1.1.0", "agent_ids": ["nobody"]}, 404, "unknown agent(s): nobody"),
        ({"version": "2.0.0"}, 404, "no package 2.0.0"),
        ({"version": "../1.1.0"}, 422, "version"),
        ({"version": "1.1.0", "canary_percent": 0}, 422, "canary_percent"),
        ({"version": "1.1.0", "rollback_s": 1}, 422, "rollback_s"),
    ]:
        r = lms.http.post("/api/upgrades/campaigns", json=body)
        assert r.status_code == status and why in r.json()["error"], (body, r.text)
    assert lms.http.post("/api/upgrades/campaigns/999/cancel").status_code == 404
    assert lms.http.get("/api/upgrades/campaigns").json()["data"]["campaigns"] == []
    assert agent.slots.current() == "1.0.0"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
