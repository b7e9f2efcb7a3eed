"""The cloud plane as the local twin runs it: DynamoDB and iot-data on a real moto server
(``CLASSTOP_AWS_ENDPOINT``), the app served over real HTTP by Chalice's local server in a thread, and the
rule handlers called as plain functions (what the twin's rules engine does)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from app import app
from chalice.config import Config
from chalice.local import LocalDevServer, create_local_server
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iotdata.models import iotdata_backends

from chalicelib import container, models
from chalicelib.adapters.iot import IotDataPublisher
from chalicelib.config import Settings
from chalicelib.handlers import RULE_HANDLERS
from infra.aws.rules import event_for, rule_for_handler
from shared.messages import SiteCommand, decode
from shared.names import Namespace
from shared.topics import site_down, site_up
from tests.fixtures.moto_server import start_moto

pytestmark = pytest.mark.integration


@dataclass
class Twin:
    api: str
    token: str
    settings: Settings

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token != "":  # "" sends no Authorization header at all
            request.add_header("Authorization", f"Bearer {token or self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    """One per module: chalice's ``create_local_server`` rebinds the app's class and cannot run twice."""
    moto, endpoint = start_moto()
    # moto's backends are per process, shared by every server in it: start from a clean state
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    server: LocalDevServer | None = None
    try:
        settings = Settings(tenant="demo", stage="it", region="us-east-1", aws_endpoint=endpoint)
        container.reset()
        # no publisher injected: the container builds the production IotDataPublisher pointed at moto
        container.configure(settings=settings)
        assert models.create_tables(settings)
        token = container.get().tokens.create("admin", "twin").secret

        server = create_local_server(app, Config.create(chalice_stage="dev"), "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True)
        thread.start()
        yield Twin(f"http://127.0.0.1:{server.server.server_address[1]}", token, settings)
    finally:
        if server is not None:
            server.shutdown()
            server.server.server_close()
        container.reset()
        moto.stop()


def rule(handler: str, site_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """Run the rule handler on what IoT Core's rule makes of ``message`` published on the site's topic."""
    found = rule_for_handler(handler)
    assert found.channel is not None, handler  # a site's rule, not the presence events'
    event = event_for(found, site_up(Namespace("demo", "it"), site_id, found.channel), json.dumps(message).encode())
    return RULE_HANDLERS[handler](event, None)


def published(topic: str) -> list[bytes]:
    backend = iotdata_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    return [bytes(payload) for t, payload in backend.published_payloads if t == topic]


def test_command_round_trip_through_moto_server(twin: Twin) -> None:
    assert isinstance(container.get().publisher, IotDataPublisher)
    heartbeat = {"type": "site_heartbeat", "v": 1, "timestamp": 1_700_000_000.0, "lms_version": "1.0.0",
                 "agents": [{"agent_id": "pc-1", "status": "online"}]}
    assert rule("site_heartbeat", "school-1", heartbeat)["agents_written"] == 1

    status, health = twin.call("GET", "/api/health")
    assert status == 200 and health["data"]["status"] == "ok"
    status, agents = twin.call("GET", "/api/agents")
    assert status == 200 and [a["agent_id"] for a in agents["data"]["agents"]] == ["pc-1"]

    status, created = twin.call("POST", "/api/commands", {"agent_id": "pc-1", "command": "ping"})
    assert status == 202, created
    command_id = created["data"]["command_id"]
    sent = [decode(SiteCommand, p) for p in published(site_down(Namespace("demo", "it"), "school-1"))]
    assert [(m.request_id, m.targets) for m in sent] == [(command_id, ["pc-1"])]

    status, error = twin.call("POST", "/api/commands", {"agent_id": "pc-2", "command": "ping"})
    assert status == 404 and error["error"]["code"] == "unknown_agent"
    status, error = twin.call("GET", "/api/agents", token="ctk_wrong")
    assert status == 401 and error["error"]["code"] == "unauthorized"

    results = {"type": "command_results", "v": 1, "results": [
        {"request_id": command_id, "agent_id": "pc-1", "status": "succeeded", "success": True,
         "data": {"pong": True}, "timestamp": 1_700_000_001.0}]}
    assert rule("command_results", "school-1", results)["applied"] == 1

    status, record = twin.call("GET", f"/api/commands/{command_id}")
    assert status == 200
    assert record["data"]["status"] == "succeeded"
    assert record["data"]["results"]["pc-1"]["data"] == {"pong": True}


def test_classtop_client_and_seed_lms_over_http(twin: Twin) -> None:
    """The five ClassTop endpoints and the seed LMS calls over real HTTP, with no credentials (default
    ``approval`` policies: admitted and pending), then approved by an admin (a pending site's heartbeat is 403)."""
    status, reg = twin.call("POST", "/api/clients/register", {"uuid": "c-http", "name": "", "api_url": ""}, token="")
    assert status == 200 and reg["success"] is True and reg["data"]["approval"] == "pending"
    course = {"id": 3, "name": "Maths", "teacher": "Li", "color": "#6750A4", "note": None}
    entry = {"id": 4, "course_id": 3, "day_of_week": 2, "start_time": "09:00", "end_time": "09:45", "weeks": [1]}
    status, synced = twin.call("POST", "/api/sync", {"client_uuid": "c-http", "courses": [course],
                                                     "schedule_entries": [entry]}, token="")
    assert status == 200 and synced["data"] == {"synced_courses": 1, "synced_entries": 1}
    status, courses = twin.call("GET", "/api/clients/c-http/courses", token="")
    assert status == 200 and courses["data"]["courses"] == [{**course, "location": ""}]
    status, schedule = twin.call("GET", "/api/clients/c-http/schedule", token="")
    assert status == 200 and schedule["data"]["schedule_entries"] == [entry]

    lms = {"lms_uuid": "lms-http", "name": "LMS", "host": "10.0.0.2", "port": 8000, "version": "1.0.0"}
    status, registered = twin.call("POST", "/api/lms/register", lms, token="")
    assert status == 200 and registered["data"]["lms_id"] == "lms-http"
    beat = {"lms_uuid": "lms-http", "client_count": 1,
            "clients": [{"uuid": "c-http", "name": "R1", "status": "online"}]}
    status, _ = twin.call("POST", "/api/lms/heartbeat", beat, token=registered["data"]["api_key"])
    assert status == 403  # a pending site's heartbeats are refused until an admin approves it
    status, approved = twin.call("POST", "/api/lms/lms-http/approve", {})
    assert status == 200 and approved["data"]["approval"] == "approved"
    status, _ = twin.call("POST", "/api/lms/heartbeat", beat, token=registered["data"]["api_key"])
    assert status == 200
    status, clients = twin.call("GET", "/api/lms/lms-http/clients")
    assert status == 200 and [c["agent_id"] for c in clients["data"]["clients"]] == ["c-http"]
