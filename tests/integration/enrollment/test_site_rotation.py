"""Issue 19, "Rotate": the site's certificates are rotated live and no agent is dropped.

Real processes throughout: the LMS (``python -m edge.lms``), the site broker (Mosquitto, dynamic-security, TLS
with the site CA's certificate) and three agents (``python -m edge.agent``) enrolled with the pinned site CA.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.enrollment.tls_site import PresenceWatch, served_serial, tls_site
from tests.integration.lms.lms_harness import eventually

pytestmark = pytest.mark.integration

AGENTS = ["room-1", "room-2", "room-3"]


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    # Not tmp_path: the `mosquitto` user cannot traverse pytest's 0700 base directory (tests/fixtures/brokers.py).
    path = Path(tempfile.mkdtemp(prefix="ct-rotate-broker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_a_certificate_rotation_keeps_every_agent_online_throughout(tmp_path: Path, broker_dir: Path) -> None:
    with tls_site(tmp_path, broker_dir, AGENTS) as site:
        lms_before = served_serial("localhost", site.http_port, site.ca_file)
        broker_before = served_serial("localhost", site.tls_port, site.ca_file)
        since = time.time()
        with PresenceWatch(site) as watch:
            eventually(lambda: watch.samples >= 3, 30, what="presence sampled before the rotation")
            # operations.md step: rotate the site certificate (admin API; the CLI does the same on disk)
            rotated = site.api_post("/api/site-tls/rotate")
            assert rotated["rotated"] == ["lms", "broker"] and rotated["ca_hash"] == site.ca_hash
            # the broker reloads on SIGHUP (the container's start script sends it when the file changes)
            site.broker.reload()
            # agents that connect now verify the new certificates against the same pinned CA
            site.agents[0].stop()
            eventually(lambda: site.status("room-1") == "offline", 30, what="room-1 stopped")
            samples_at_restart = watch.samples
            site.agents[0].start(None)  # no enrolment token: it must reuse its stored credentials
            eventually(lambda: site.status("room-1") == "online", 60, what="room-1 back over the new certificate")
            eventually(lambda: watch.samples >= samples_at_restart + 3, 30, what="presence sampled after")
        assert watch.failures == []
        # every agent online at every sample, but room-1 while the test itself stopped it
        assert {agent for agent, _ in watch.missing} <= {"room-1"}
        assert {agent for agent, _ in site.disconnects(since)} <= {"room-1"}
        assert served_serial("localhost", site.http_port, site.ca_file) == int(rotated["serials"]["lms"], 16)
        assert served_serial("localhost", site.tls_port, site.ca_file) == int(rotated["serials"]["broker"], 16)
        assert int(rotated["serials"]["lms"], 16) != lms_before
        assert int(rotated["serials"]["broker"], 16) != broker_before
        for agent in site.agents[1:]:
            log = agent.output()
            assert "disconnected" not in log and log.count(": connected to ") == 1, log[-2000:]
        # the rotation is in the audit log, with who did it
        audit = site.api_get("/api/audit?action=site-tls:rotate")["entries"]
        assert [e["result"] for e in audit] == ["ok"]
