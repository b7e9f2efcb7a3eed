"""The ClassTop hub in-process (the LMS's app, Starlette's test client as the WebSocket peer): a pending client's
connection, its approval and rejection through the admin routes, the per-connection frame rate and the
per-address connection limit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from edge.lms.agents import Registry
from edge.lms.api import Services, create_app
from edge.lms.commands import CommandLog, Router
from edge.lms.config import ClassTopSettings, LmsConfig
from edge.lms.legacy.admission import Admissions
from edge.lms.legacy.hub import CLOSE_REJECTED, LegacyHub
from edge.lms.store import Store
from shared.mqtt import MqttClient, MqttSettings
from tests.fixtures.clock import Clock


@dataclass
class Site:
    http: TestClient
    hub: LegacyHub
    registry: Registry
    admissions: Admissions
    clock: Clock
    admin: dict[str, str]


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    store = Store(tmp_path / "lms.db").open()
    limits = getattr(request, "param", {"frames_per_second": 3, "max_connections_per_address": 2})
    classtop = ClassTopSettings(client_policy="approval", **limits)
    config = LmsConfig(tenant="demo", site_id="school-1", db_path=tmp_path / "lms.db", classtop=classtop)
    registry = Registry(store, presence_timeout_s=30)
    mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test"))  # never connected
    journal = CommandLog(store).start()
    router = Router(mqtt, registry, journal, default_timeout_s=5)
    router.start()
    admissions = Admissions(store, registry, classtop).load()
    clock = Clock()
    hub = LegacyHub(registry, router, admissions, clock=clock).attach()
    services = Services(config=config, store=store, registry=registry, router=router, site_mqtt=mqtt, cloud=None,
                        version="test", journal=journal, legacy=hub)  # fmt: skip
    admin = {"Authorization": f"Bearer {services.tokens.create('admin', 'admin')[1]}"}
    with TestClient(create_app(services)) as http:
        yield Site(http, hub, registry, admissions, clock, admin)
    router.stop()
    journal.stop()
    store.close()


def state(name: str) -> str:
    return json.dumps({"type": "state_update", "data": {"settings": {"client_name": name}}})


def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {check}")


def test_pending_connection_is_promoted_on_approval_and_its_frames_are_rate_limited(site: Site) -> None:
    with site.http.websocket_connect("/ws/c-1") as ws:
        ws.send_text(state("Room 7"))
        eventually(lambda: (a := site.admissions.get("c-1")) is not None and a.name == "Room 7")
        assert site.registry.get("c-1") is None and site.hub.connected("c-1")
        r = site.http.post("/api/classtop/clients/c-1/approve", headers=site.admin)
        assert r.status_code == 200 and r.json()["data"]["connected"] is True
        view = site.registry.get("c-1")
        assert view is not None and view.online and view.kind == "legacy" and view.settings == {"client_name": "Room 7"}

        # three frames a second: of ten sent at once, three count; a second later there is room again
        site.clock.now += 1.0
        for i in range(10):
            ws.send_text(state(f"burst {i}"))
        eventually(lambda: site.hub.stats.frames == 11)
        assert site.hub.stats.throttled == 7
        assert site.registry.get("c-1").settings == {"client_name": "burst 2"}  # type: ignore[union-attr]
        site.clock.now += 1.0
        ws.send_text(state("later"))
        eventually(lambda: site.registry.get("c-1").settings == {"client_name": "later"})  # type: ignore[union-attr]
    eventually(lambda: not site.registry.get("c-1").online)  # type: ignore[union-attr]


def test_rejection_closes_a_pending_connection_and_refuses_the_next(site: Site) -> None:
    with site.http.websocket_connect("/ws/c-2") as ws:
        ws.send_text(state("Unknown PC"))
        eventually(lambda: site.hub.connected("c-2"))
        r = site.http.post("/api/classtop/clients/c-2/reject", headers=site.admin)
        assert r.status_code == 200 and r.json()["data"]["approval"] == "rejected"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == CLOSE_REJECTED
    with pytest.raises(WebSocketDenialResponse) as denied, site.http.websocket_connect("/ws/c-2"):
        pass
    assert denied.value.status_code == 403 and "rejected" in denied.value.json()["error"]
    assert site.registry.get("c-2") is None


def test_one_address_gets_a_bounded_number_of_connections(site: Site) -> None:
    with site.http.websocket_connect("/ws/c-3"), site.http.websocket_connect("/ws/c-4"):
        with pytest.raises(WebSocketDenialResponse) as denied, site.http.websocket_connect("/ws/c-5"):
            pass
        assert denied.value.status_code == 429 and denied.value.json()["error_code"] == "busy"
        assert int(denied.value.headers["retry-after"]) >= 1
        with site.http.websocket_connect("/ws/c-3"):  # a reconnect replaces its old connection: no new slot
            pass
    with site.http.websocket_connect("/ws/c-5"):  # room again once they closed
        pass


@pytest.mark.parametrize("site", [{"connects_per_minute": 3, "max_connections": 2}], indirect=True)
def test_handshakes_per_address_and_connections_in_total(site: Site) -> None:
    with site.http.websocket_connect("/ws/c-1"), site.http.websocket_connect("/ws/c-2"):
        with pytest.raises(WebSocketDenialResponse) as full, site.http.websocket_connect("/ws/c-3"):
            pass
        assert full.value.status_code == 503 and "at most 2" in full.value.json()["error"]
    with pytest.raises(WebSocketDenialResponse) as fast, site.http.websocket_connect("/ws/c-3"):
        pass  # the fourth handshake within the minute
    assert fast.value.status_code == 429 and "too many connection attempts" in fast.value.json()["error"]
    site.clock.now += 20.0  # one handshake back every 20 s
    with site.http.websocket_connect("/ws/c-3"):
        pass
