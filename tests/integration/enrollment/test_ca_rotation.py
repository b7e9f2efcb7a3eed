"""Issue 19, "Rotate": the site CA is rotated (begin, switch, retire) with every agent online, and a rogue host
on the school LAN — or an enrolled agent — cannot push a CA to agents.

Real LMS, real TLS site broker with dynamic security, real enrolled agents (tests/integration/enrollment/tls_site.py).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.lms.tls import SiteCa
from shared import fingerprint, topics
from shared.messages import Command, encode
from tests.integration.enrollment.tls_site import PresenceWatch, TlsSite, served_serial, tls_site
from tests.integration.lms.lms_harness import eventually

pytestmark = pytest.mark.integration

AGENTS = ["room-1", "room-2", "room-3"]


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ct-ca-broker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def trusted_by(site: TlsSite, agent_id: str) -> list[str]:
    """The fingerprints in the agent's site CA file."""
    text = (site.workdir / agent_id / "state" / "site-ca.pem").read_text()
    blocks = text.split("-----END CERTIFICATE-----")[:-1]
    return [fingerprint.of_pem(block + "-----END CERTIFICATE-----\n") for block in blocks]


def push_ca_as(site: TlsSite, username: str, password: str, client_id: str, target: str, ca_pem: str) -> str:
    """Publish a ``trust_site_ca`` command to ``target``'s down topic as ``username``; what the broker said."""
    outcome: list[str] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.tls_set(ca_certs=str(site.ca_file))

    def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        if getattr(reason, "is_failure", True):
            outcome.append(f"refused connection: {reason}")
            done.set()
            return
        command = Command(request_id="rogue-1", command="trust_site_ca", params={"ca_pems": [ca_pem]})
        client.publish(topics.agent_down(target), encode(command), qos=1)

    def on_publish(_c: object, _u: object, _mid: int, reason: object, _p: object) -> None:
        outcome.append(f"puback: {reason}")
        done.set()

    client.on_connect, client.on_publish = on_connect, on_publish
    client.connect("localhost", site.tls_port)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return outcome[0] if outcome else "no answer"


def test_a_rogue_lan_host_or_agent_cannot_push_a_ca_to_agents(tmp_path: Path, broker_dir: Path) -> None:
    with tls_site(tmp_path, broker_dir, ["room-1", "room-2"]) as site:
        rogue = SiteCa.open(tmp_path / "rogue-ca", name="rogue")
        before = trusted_by(site, "room-1")
        # a LAN host with no credentials: the broker refuses the connection
        said = push_ca_as(site, "room-1", "guessed-password-123", "lan-host", "room-1", rogue.cert_pem)
        assert said.startswith("refused connection"), said
        # an enrolled agent (room-2's own credentials) publishing to room-1's down topic: denied by its ACL
        creds = json.loads((site.workdir / "room-2" / "state" / "credentials.json").read_text())
        said = push_ca_as(site, creds["username"], creds["password"], "room-2", "room-1", rogue.cert_pem)
        assert "Not authorized" in said or "135" in said, said
        # an admin through the LMS's API: trust_site_ca is sent by the LMS itself only
        reply = site.request("POST", "/api/clients/room-1/command",
                             {"command": "trust_site_ca", "params": {"ca_pems": [rogue.cert_pem]}})
        assert reply.status_code in (400, 403) and "sent only by the LMS" in reply.text, reply.text
        time.sleep(1.0)  # anything that got through would have been handled by now
        assert trusted_by(site, "room-1") == before == [site.ca_hash]
        assert not (site.workdir / "room-1" / "state" / "site-ca-pins.json").exists()
        assert "trust_site_ca" not in site.agents[0].output()


def test_a_site_ca_rotation_keeps_every_agent_online_and_enrolled(tmp_path: Path, broker_dir: Path) -> None:
    with tls_site(tmp_path, broker_dir, AGENTS) as site:
        old_hash, since = site.ca_hash, time.time()
        with PresenceWatch(site) as watch:
            eventually(lambda: watch.samples >= 3, 30, what="presence sampled")
            # 1. begin: the next CA reaches every agent over its own broker connection
            begun = site.api_post("/api/site-tls/ca/begin")
            assert begun["phase"] == "overlap" and sorted(begun["acknowledged"]) == AGENTS and begun["pending"] == []
            new_hash = begun["next_fingerprint"]
            for agent_id in AGENTS:
                assert trusted_by(site, agent_id) == [old_hash, new_hash]
            # 2. switch: the LMS's and broker's certificates now come from the new CA
            switched = site.api_post("/api/site-tls/ca/switch")
            assert switched["phase"] == "switched" and switched["previous_fingerprint"] == old_hash
            site.broker.reload()
            assert site.request("GET", "/api/enroll/ca").text.strip() == site.ca_file.read_text().strip()
            assert fingerprint.of_pem(site.ca_file.read_text()) == new_hash
            served_serial("localhost", site.http_port, site.ca_file)  # verified by the new CA alone
            served_serial("localhost", site.tls_port, site.ca_file)
            # an agent that connects now verifies the new certificates (no token: no re-enrolment possible)
            site.agents[0].stop()
            eventually(lambda: site.status("room-1") == "offline", 30, what="room-1 stopped")
            site.agents[0].start(None)
            eventually(lambda: site.status("room-1") == "online", 60, what="room-1 back under the new CA")
            # 3. retire: agents drop the old CA
            retired = site.api_post("/api/site-tls/ca/retire")
            assert sorted(retired["acknowledged"]) == AGENTS
            for agent_id in AGENTS:
                assert trusted_by(site, agent_id) == [new_hash]
            assert not (site.ca_file.parent / "previous").exists()
            site.agents[1].stop()
            eventually(lambda: site.status("room-2") == "offline", 30, what="room-2 stopped")
            site.agents[1].start(None)
            eventually(lambda: site.status("room-2") == "online", 60, what="room-2 back after the retirement")
            samples = watch.samples
            eventually(lambda: watch.samples >= samples + 3, 30, what="presence sampled after")
        assert watch.failures == []
        assert {agent for agent, _ in watch.missing} <= {"room-1", "room-2"}  # only while the test stopped them
        assert {agent for agent, _ in site.disconnects(since)} <= {"room-1", "room-2"}
        log = site.agents[2].output()
        assert "disconnected" not in log and log.count(": connected to ") == 1, log[-2000:]
        # a new enrolment token shows the new fingerprint; the steps are in the audit log
        assert site.api_post("/api/enrollment-tokens", {"max_uses": 1})["ca_hash"] == new_hash
        actions = [e["action"] for e in site.api_get("/api/audit")["entries"] if e["action"].startswith("site-ca:")]
        assert sorted(actions) == ["site-ca:begin", "site-ca:retire", "site-ca:switch"]
