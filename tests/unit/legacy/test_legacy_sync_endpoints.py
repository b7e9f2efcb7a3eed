"""The ClassTop sync endpoints in-process (the LMS's app on a real SQLite store): their disk work never runs on
the event loop, and one address gets a bounded number of requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edge.lms.agents import Registry
from edge.lms.api import Services, create_app
from edge.lms.commands import CommandLog, Router
from edge.lms.config import ClassTopSettings, LmsConfig
from edge.lms.store import Store
from shared.mqtt import MqttClient, MqttSettings

SYNC = {"client_uuid": "c-1", "courses": [{"id": 1, "name": "Maths"}], "schedule_entries": []}


@dataclass
class Lms:
    services: Services
    store: Store


@pytest.fixture
def lms(tmp_path: Path) -> Iterator[Lms]:
    store = Store(tmp_path / "lms.db").open()
    classtop = ClassTopSettings(client_policy="open", requests_per_minute=5)
    config = LmsConfig(tenant="demo", site_id="school-1", db_path=tmp_path / "lms.db", classtop=classtop)
    registry = Registry(store, presence_timeout_s=30)
    mqtt = MqttClient(MqttSettings(host="127.0.0.1", port=1, client_id="lms-test"))  # never connected
    journal = CommandLog(store).start()
    router = Router(mqtt, registry, journal, default_timeout_s=5)
    services = Services(config=config, store=store, registry=registry, router=router, site_mqtt=mqtt, cloud=None,
                        version="test", journal=journal)  # fmt: skip
    yield Lms(services, store)
    journal.stop()
    store.close()


def test_a_sync_waiting_on_the_disk_does_not_stall_the_lms(lms: Lms) -> None:
    """The store is held by another thread (a slow disk, a long transaction): a sync waits for it, and the LMS
    meanwhile answers everyone else. Before, the sync's SQLite work ran on the event loop and stalled it all."""
    app = create_app(lms.services)
    held = threading.Event()
    release = threading.Event()

    def hold_the_store() -> None:
        with lms.store.transaction():
            held.set()
            release.wait(10)  # let go at the latest after 10 s (a stalled event loop cannot tell us)
            release.set()

    holder = threading.Thread(target=hold_the_store, daemon=True)
    holder.start()
    assert held.wait(5)

    async def scenario() -> tuple[int, bool, int]:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.5", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://lms") as http:
            sync = asyncio.create_task(http.post("/api/sync", json=SYNC))
            await asyncio.sleep(0.2)  # the sync is under way, waiting for the store
            health = await http.get("/api/health")
            answered_while_held = not release.is_set()
            release.set()
            return health.status_code, answered_while_held, (await sync).status_code

    try:
        status, answered_while_held, synced = asyncio.run(scenario())
    finally:
        release.set()
        holder.join(10)
    assert answered_while_held, "/api/health waited until the database was free: the sync stalled the event loop"
    assert (status, synced) == (200, 200)


def test_requests_per_address_are_bounded(lms: Lms) -> None:
    app = create_app(lms.services)

    async def scenario() -> list[httpx.Response]:
        out = []
        for address in ("10.0.0.5",) * 7 + ("10.0.0.6",):
            transport = httpx.ASGITransport(app=app, client=(address, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://lms") as http:
                out.append(await http.get("/api/clients/c-1/courses"))
        return out

    replies = asyncio.run(scenario())
    assert [r.status_code for r in replies] == [200] * 5 + [429, 429, 200]
    refused = replies[5]
    assert refused.json()["error_code"] == "busy" and "10.0.0.5" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) >= 1
