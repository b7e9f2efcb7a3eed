"""500 ClassTop desktop clients (``/ws/{uuid}``) and 500 MQTT agents on one LMS; one batch reaches all 1,000.

The MQTT agents are ``bench/_sim_agents.py``'s simulator (one helper process, real paho clients on the real site
broker); the ClassTop clients speak the documented protocol on one asyncio loop (``bench/legacy_rtt.py``).
How long the batch takes is measured by ``bench/legacy_rtt.py --legacy 500 --agents 500``, not here.
"""

from __future__ import annotations

import threading
import uuid as uuidlib
from collections import Counter

import pytest

from bench._sim_agents import Site
from bench.legacy_rtt import CLASSTOP_OPEN, many_clients
from infra.local.process import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

LEGACY = 500
MQTT = 500


def test_a_batch_reaches_500_classtop_clients_and_500_mqtt_agents() -> None:
    stop = threading.Event()
    with Site(MQTT) as site:
        site.start_lms(classtop=CLASSTOP_OPEN)  # returns once the LMS shows every MQTT agent online
        assert site.lms is not None
        uuids = [str(uuidlib.uuid4()) for _ in range(LEGACY)]
        many_clients(f"ws://127.0.0.1:{site.lms_port}", uuids, stop)
        try:

            def everyone() -> bool:
                return bool(site.api("GET", "/api/health")["data"]["agents"]["online"] >= LEGACY + MQTT)

            wait_for(f"{LEGACY + MQTT} clients and agents online", everyone, 180, every_s=0.5, watch=[site.lms])
            listed = site.api("GET", "/api/clients/")["data"]["clients"]
            kinds = Counter(c["kind"] for c in listed if c["online"])
            assert kinds == {"legacy": LEGACY, "agent": MQTT}

            reply = site.api("POST", "/api/commands/batch", {
                "command": "get_setting", "params": {"key": "theme_mode"}, "target": {"all": True},
                "concurrency": 2000, "timeout_s": 30,
            })  # fmt: skip
            data = reply["data"]
            assert reply["success"] is True, {k: v for k, v in data.items() if k != "results"}
            assert data["count"] == LEGACY + MQTT and data["succeeded"] == LEGACY + MQTT and data["failed"] == 0
            results = data["results"]
            assert set(results) == set(uuids) | set(site.ids)  # one result per target, keyed by its id
            # each answered for itself: the ClassTop clients from their settings, the MQTT agents with their pong
            assert all(results[u]["data"] == "light" and results[u]["status"] == "succeeded" for u in uuids)
            assert all(results[a]["data"] == {"pong": True, "agent": a} for a in site.ids)
        finally:
            stop.set()
