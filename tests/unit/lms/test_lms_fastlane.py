"""The command fast lane in-process: it serves the ordinary case itself, and every other request gets exactly
the answer the FastAPI route alone would give."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.lms.agents import Registry
from edge.lms.api import Services, create_app
from edge.lms.api.app import build_fastapi
from edge.lms.api.fastlane import CommandFastLane
from edge.lms.commands import CommandLog, Router
from edge.lms.config import LmsConfig
from edge.lms.store import Store
from shared.messages import Presence, Status, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings


@dataclass
class Api:
    lane: CommandFastLane
    served: TestClient  # through the fast lane (the LMS's app)
    plain: TestClient  # FastAPI alone
    services: Services
    tokens: dict[str, str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = Store(tmp_path / "lms.db").open()
    config = LmsConfig(tenant="demo", site_id="school-1", db_path=tmp_path / "lms.db")
    registry = Registry(store, presence_timeout_s=30)
    mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test"))  # never connected
    journal = CommandLog(store).start()
    router = Router(mqtt, registry, journal, default_timeout_s=5)
    router.start()
    services = Services(config=config, store=store, registry=registry, router=router, site_mqtt=mqtt, cloud=None,
                        version="test", journal=journal)  # fmt: skip
    status = Status(state=Presence.ONLINE, timestamp=1.0, reason="start")
    registry.handle(IncomingMessage("ct/agent/pc-1/up/status", encode(status), 1, True))
    tokens = {role: services.tokens.create(f"{role} token", role)[1] for role in ("viewer", "operator", "admin")}
    app = create_app(services)
    lane = app.app  # type: ignore[attr-defined]
    assert isinstance(lane, CommandFastLane)
    with TestClient(app) as served, TestClient(build_fastapi(services)) as plain:
        yield Api(lane, served, plain, services, tokens)
    router.stop()
    journal.stop()
    store.close()


def post(client: TestClient, path: str, body: Any, token: str | None, raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else json.dumps(body).encode()
    r = client.post(path, content=content, headers=headers)
    data = r.json()
    data.pop("request_id", None)  # differs per command
    return r.status_code, data


def test_the_ordinary_case_is_served_by_the_lane(api: Api) -> None:
    before = api.lane.served
    status, body = post(api.served, "/api/clients/nobody/command", {"command": "ping"}, api.tokens["operator"])
    assert (status, body["error_code"], body["status"]) == (404, "unknown_agent", "failed")
    # an online agent that never answers (the broker is not there): the LMS's own timeout, through the lane
    status, body = post(api.served, "/api/clients/pc-1/command", {"command": "ping", "timeout_s": 0.1},
                        api.tokens["admin"])  # fmt: skip
    assert (status, body["error_code"]) == (504, "timeout")
    # an unknown command is the service's answer, not a body error: the lane serves it too
    status, body = post(api.served, "/api/clients/pc-1/command", {"command": "no_such"}, api.tokens["operator"])
    assert (status, body["error_code"]) == (422, "unknown_command")
    assert api.lane.served == before + 3
    # the command log has them, as for any command
    assert api.services.journal.flush(5.0)
    assert [r["command"] for r in api.services.journal.recent(None, 10)].count("ping") == 2


@pytest.mark.parametrize(
    ("case", "body", "raw", "role"),
    [
        ("no token", {"command": "ping"}, None, None),
        ("bad token", {"command": "ping"}, None, "ctl_not-a-real-token-0123456789"),
        ("viewer", {"command": "ping"}, None, "viewer"),
        ("not json", None, b"{ping", "operator"),
        ("not an object", ["ping"], None, "operator"),
        ("extra field", {"command": "ping", "bogus": 1}, None, "operator"),
        ("bad timeout", {"command": "ping", "timeout_s": -1}, None, "operator"),
        ("no command", {"params": {}}, None, "operator"),
        ("exec as operator", {"command": "exec", "params": {"cmd": "echo hi"}}, None, "operator"),
    ],
)
def test_everything_else_gets_the_routes_own_answer(
    api: Api, case: str, body: Any, raw: bytes | None, role: str | None
) -> None:
    token = api.tokens.get(role, role) if role is not None else None
    before = api.lane.served
    through = post(api.served, "/api/clients/nobody/command", body, token, raw)
    alone = post(api.plain, "/api/clients/nobody/command", body, token, raw)
    assert through == alone, case
    assert through[0] in (400, 401, 403, 422), case
    served = api.lane.served - before
    assert served == (1 if case == "exec as operator" else 0), case  # refused by the service: same reply


def test_other_routes_pass_through(api: Api) -> None:
    before = api.lane.served
    r = api.served.get("/api/clients/pc-1", headers={"Authorization": f"Bearer {api.tokens['viewer']}"})
    assert r.status_code == 200 and r.json()["data"]["uuid"] == "pc-1"
    admin = {"Authorization": f"Bearer {api.tokens['admin']}"}
    r = api.served.post("/api/clients/pc-1/commandx", json={}, headers=admin)
    assert r.status_code in (404, 405)
    assert api.lane.served == before
