"""Agent events at the real LMS process: stored, shown by the API, forwarded to the cloud stand-in."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.local.ports import free_port
from shared import topics
from shared.messages import Event, Severity, decode, encode
from shared.messages import SiteEvents as CloudSiteEvents
from shared.topics import AgentUp, SiteUp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.lms.lms_harness import NS, SITE, LmsProcess, SimAgent, eventually, lms_config_text

pytestmark = pytest.mark.integration

EVENTS_UP = topics.site_up(NS, SITE, SiteUp.EVENTS)


@pytest.fixture
def cloud(cloud_broker: Broker) -> MqttProbe:
    probe = cloud_broker.client()
    probe.subscribe(EVENTS_UP)
    return probe


@pytest.fixture
def lms(tmp_path: Path, site_broker: Broker, cloud_broker: Broker) -> Iterator[LmsProcess]:
    text = lms_config_text(site_broker=site_broker, cloud_port=cloud_broker.port, http_port=free_port(),
                           db_path=tmp_path / "lms.db")
    with LmsProcess(tmp_path, text, site_broker.passwords["lms"]).running() as proc:
        yield proc


@pytest.fixture
def agent(site_broker: Broker) -> Iterator[SimAgent]:
    sim = SimAgent(site_broker, "agent-1").start()
    yield sim
    with contextlib.suppress(Exception):
        sim.client.stop(timeout_s=2.0)


def send(agent: SimAgent, kind: str, data: dict[str, Any], *, severity: Severity = Severity.INFO,
         at: float | None = None, message: str = "") -> Event:
    event = Event(timestamp=at or time.time(), kind=kind, severity=severity, message=message, data=data)
    agent.publish(AgentUp.EVENT, encode(event))
    return event


def forwarded(cloud: MqttProbe) -> list[tuple[str, Event]]:
    out: list[tuple[str, Event]] = []
    for m in list(cloud.messages):
        if m.topic == EVENTS_UP:
            message = decode(CloudSiteEvents, m.payload)  # the shape the cloud's site_events rule handler takes
            out.extend((e.agent_id, e.event) for e in message.events)
    return out


def test_events_are_stored_shown_and_forwarded_changed_only(
    lms: LmsProcess, agent: SimAgent, cloud: MqttProbe, tmp_path: Path
) -> None:
    lms.wait_agent("agent-1")
    frozen = send(agent, "cctv.frozen", {"camera_id": "door", "change": 0.0}, severity=Severity.WARNING,
                  message="camera door: image frozen")
    agent.publish(AgentUp.EVENT, encode(frozen))  # redelivered by the agent's at-least-once outbox
    send(agent, "agent.note", {"x": 1})  # info, not for the cloud
    send(agent, "command.state", {"request_id": "r-7", "status": "running"})
    send(agent, "processes", {"timestamp": 1.0, "count": 2, "by_cpu": [{"pid": 1, "name": "init"}], "by_memory": []})
    send(agent, "outbox.dropped", {"dropped": 3}, severity=Severity.WARNING)
    agent.publish(AgentUp.EVENT, b'{"type": "event", "kind": "BAD KIND"}')  # dropped by the registry

    def stored() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = lms.http.get("/api/events", params={"agent": "agent-1"}).json()["data"]["events"]
        return rows if len(rows) >= 3 else None

    rows = eventually(stored, what="three stored events")
    assert [r["kind"] for r in rows] == ["outbox.dropped", "agent.note", "cctv.frozen"]  # newest first, no dup
    assert rows[2]["severity"] == "warning" and rows[2]["data"] == {"camera_id": "door", "change": 0.0}
    only_cctv = lms.http.get("/api/events", params={"kind": "cctv."}).json()["data"]["events"]
    assert [r["kind"] for r in only_cctv] == ["cctv.frozen"]
    warnings = lms.http.get("/api/events", params={"severity": "warning"}).json()["data"]["events"]
    assert {r["kind"] for r in warnings} == {"cctv.frozen", "outbox.dropped"}
    assert lms.http.get("/api/events", params={"since": time.time() + 60}).json()["data"]["events"] == []
    bad = lms.http.get("/api/events", params={"kind": "Not A Kind", "limit": 5000})
    assert bad.status_code == 422 and bad.json()["error_code"] == "bad_payload"

    with sqlite3.connect(tmp_path / "lms.db") as db:
        cctv_rows = db.execute("SELECT client_uuid, event_type, camera_id FROM cctv_logs").fetchall()
    assert cctv_rows == [("agent-1", "cctv.frozen", "door")]

    progress = lms.http.get("/api/events/commands", params={"agent": "agent-1"}).json()["data"]["commands"]
    assert [(p["request_id"], p["status"]) for p in progress] == [("r-7", "running")]
    processes = lms.http.get("/api/clients/agent-1/processes").json()["data"]
    assert processes["count"] == 2 and processes["by_cpu"][0]["name"] == "init"
    missing = lms.http.get("/api/clients/agent-2/processes")
    assert missing.status_code == 404 and missing.json()["error_code"] == "not_found"

    up = eventually(lambda: (f := forwarded(cloud)) and len(f) >= 2 and f, what="events in the cloud")
    assert [(a, e.kind) for a, e in up] == [("agent-1", "cctv.frozen"), ("agent-1", "outbox.dropped")]
    assert up[0][1] == frozen


def test_events_wait_in_the_outbox_while_the_cloud_is_away(
    tmp_path: Path, site_broker: Broker, cloud_broker: Broker, agent: SimAgent
) -> None:
    text = lms_config_text(site_broker=site_broker, cloud_port=free_port(), http_port=free_port(),
                           db_path=tmp_path / "lms.db")  # no broker on that port
    with LmsProcess(tmp_path, text, site_broker.passwords["lms"]).running(wait_cloud=False) as lms:
        lms.wait_agent("agent-1")
        send(agent, "cctv.disk_full", {"free": 1}, severity=Severity.ERROR)

        def queued() -> list[bytes]:
            with sqlite3.connect(tmp_path / "lms.db") as db:
                rows = db.execute("SELECT payload FROM outbox WHERE topic = ?", (EVENTS_UP,)).fetchall()
            return [bytes(p) for (p,) in rows]

        payloads = eventually(queued, what="the event in the outbox")
        message = decode(CloudSiteEvents, payloads[0])
        assert [e.event.kind for e in message.events] == ["cctv.disk_full"]
