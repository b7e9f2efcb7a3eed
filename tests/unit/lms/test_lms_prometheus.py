"""``/metrics`` in-process (FastAPI's TestClient): its client address is not loopback, so a token is needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edge.lms.api import Services, create_app
from edge.lms.store import Store
from shared.messages import Metrics, Presence, Status, encode
from shared.mqtt import IncomingMessage
from tests.fixtures.lms_services import offline_services


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, Services]]:
    store = Store(tmp_path / "lms.db").open()
    services = offline_services(store, tmp_path)
    with TestClient(create_app(services)) as client:
        yield client, services
    store.close()


def test_metrics_need_a_viewer_token_off_loopback(app: tuple[TestClient, Services]) -> None:
    client, services = app
    status = Status(state=Presence.ONLINE, timestamp=1.0, reason="start")
    services.registry.handle(IncomingMessage("ct/agent/agent-1/up/status", encode(status), 1, True))
    sample = Metrics(timestamp=2.0, cpu_percent=42.5, mem_total=100, mem_used=25, mem_percent=25.0)
    services.registry.handle(IncomingMessage("ct/agent/agent-1/up/metrics", encode(sample), 1, False))
    r = client.get("/metrics")
    assert r.status_code == 401 and r.json()["error_code"] == "unauthorized"
    _, token = services.tokens.create("prometheus", "viewer")
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    lines = r.text.splitlines()
    assert 'classtop_agent_cpu_percent{agent="agent-1"} 42.5' in lines
    assert 'classtop_agents{status="online"} 1.0' in lines
    assert "classtop_lms_commands_sent_total 0.0" in lines
    assert "classtop_lms_queue_depth 0.0" in lines
    assert not any(line.startswith("classtop_lms_outbox_depth") for line in lines)  # no cloud link
    # every sample line belongs to a declared metric
    declared = {line.split()[2] for line in lines if line.startswith("# TYPE")}
    assert {line.split("{")[0].split()[0] for line in lines if not line.startswith("#")} <= declared
