"""Issue 19 on the twin (cloud API on moto, IoT Core stand-in, the LMS with its TLS dynsec site broker, enrolled
agents): the site certificate is rotated while every agent stays online — on the LMS and in the cloud — and the
cloud learns from the site heartbeats which certificates are about to lapse."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from infra.local.twin import Twin

pytestmark = pytest.mark.e2e

AGENTS = ("pc-r1", "pc-r2")  # the agents of the module's twin (tests/e2e/conftest.py)


def cloud_get(twin: Twin, path: str) -> dict[str, Any]:
    req = urllib.request.Request(twin.api_url + path, headers={"Authorization": f"Bearer {twin.admin_token}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())["data"]
        return data


def wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def test_a_site_certificate_rotation_on_the_twin_keeps_agents_online_here_and_in_the_cloud(twin: Twin) -> None:
    site = twin.opt.site_id
    wait_for(lambda: cloud_get(twin, f"/api/lms/{site}").get("certificates_expiring") == [], 30,
             "the cloud has the site's certificate report (none expiring)")  # fmt: skip
    missing: list[str] = []
    samples = [0]
    stop = threading.Event()

    def watch() -> None:  # presence as the LMS sees it, a fresh TLS handshake per request
        while not stop.is_set():
            for agent_id in AGENTS:
                try:
                    status = twin.lms_api(f"/api/clients/{agent_id}", twin.lms_token)["data"]["status"]
                except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
                    missing.append(f"{agent_id}: {exc!r}")
                    continue
                if status != "online":
                    missing.append(f"{agent_id}: {status}")
            samples[0] += 1
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        wait_for(lambda: samples[0] >= 3, 30, "presence sampled")
        rotated = twin.lms_api("/api/site-tls/rotate", twin.lms_token, body={}, timeout=30)["data"]
        assert rotated["rotated"] == ["lms", "broker"] and rotated["ca_hash"] == twin.ca_hash
        assert twin.site_broker is not None
        twin.site_broker.reload()  # what the container's broker start script does when the file changes
        count = samples[0]
        wait_for(lambda: samples[0] >= count + 10, 30, "presence sampled after the rotation")
    finally:
        stop.set()
        watcher.join(10)
    assert missing == []
    for agent_id in AGENTS:
        assert cloud_get(twin, f"/api/agents/{agent_id}")["status"] == "online"
    health = twin.lms_api("/api/health")["data"]
    assert health["agents"]["online"] == len(AGENTS) and health["certificates"]["expiring"] == []
    assert {c["name"] for c in health["certificates"]["items"]} >= {"site_ca", "lms", "broker"}
