"""The outbox's dead-letter: the store's moves (real SQLite), the link's permanent refusals, and the admin API.

The API runs in-process (FastAPI's TestClient) over the real store, a real :class:`Outbox` and a real
:class:`CloudLink` that is never started (AWS IoT Core cannot run here); the site MQTT client is never started.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from awscrt import mqtt5
from fastapi.testclient import TestClient

from edge.lms.api import Services, create_app
from edge.lms.cloud import CloudLink, CloudSide, LinkError, Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.config import CloudLinkSettings
from edge.lms.store import Store
from tests.fixtures.lms_services import offline_services

TOPIC = "ct/demo/dev/site/school-1/up/events"


# ------------------------------------------------------------ store


def test_dead_lettering_moves_rows_whole_or_not_at_all(store: Store) -> None:
    a = OutboxRows(store).put(TOPIC, b"a")
    b = OutboxRows(store).put(TOPIC, b"bb")
    assert OutboxRows(store).dead_letter([a], "refused: NOT_AUTHORIZED", failed_at=10.0) == 1
    assert [i.id for i in OutboxRows(store).peek()] == [b]
    # a row with b's id already in the dead-letter makes the move of (b) fail: nothing is half-moved
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO outbox_dead (id, topic, payload, created_at, attempts, failed_at, reason) "
            "VALUES (?, ?, ?, 0, 0, 0, 'x')",
            (b, TOPIC, b"zz"),
        )
    with pytest.raises(sqlite3.IntegrityError):
        OutboxRows(store).dead_letter([b], "refused")
    assert [i.id for i in OutboxRows(store).peek()] == [b]
    assert OutboxRows(store).dead_delete(b) and not OutboxRows(store).dead_delete(b)
    assert OutboxRows(store).dead_letter([b, 999], "refused: PAYLOAD_FORMAT_INVALID", failed_at=20.0) == 1
    assert OutboxRows(store).count() == 0 and OutboxRows(store).dead_count() == 2
    rows = OutboxRows(store).dead_list()
    assert [(r.id, r.size, r.failed_at) for r in rows] == [(b, 2, 20.0), (a, 1, 10.0)]  # newest first
    assert [r.id for r in OutboxRows(store).dead_list(limit=1)] == [b]
    assert len(OutboxRows(store).dead_list(limit=0)) == 1  # clamped to at least one


def test_a_row_moved_back_goes_after_what_is_queued(store: Store) -> None:
    old = OutboxRows(store).put(TOPIC, b"old")
    OutboxRows(store).bump([old])
    OutboxRows(store).dead_letter([old], "refused")
    newer = OutboxRows(store).put(TOPIC, b"newer")
    back = OutboxRows(store).dead_retry(old)
    assert back is not None
    queued = [(i.id, i.payload, i.attempts) for i in OutboxRows(store).peek()]
    assert queued == [(newer, b"newer", 0), (back, b"old", 0)]
    assert OutboxRows(store).dead_retry(old) is None and OutboxRows(store).dead_count() == 0


# ------------------------------------------------------------ link


@pytest.mark.parametrize(
    ("code", "permanent"),
    [
        (mqtt5.PubackReasonCode.NOT_AUTHORIZED, True),
        (mqtt5.PubackReasonCode.TOPIC_NAME_INVALID, True),
        (mqtt5.PubackReasonCode.PAYLOAD_FORMAT_INVALID, True),
        (mqtt5.PubackReasonCode.IMPLEMENTATION_SPECIFIC_ERROR, True),
        (mqtt5.PubackReasonCode.UNSPECIFIED_ERROR, True),
        (0x95, True),  # PACKET_TOO_LARGE (a DISCONNECT code awscrt's PUBACK enum lacks)
        (mqtt5.PubackReasonCode.QUOTA_EXCEEDED, False),
        (0x89, False),  # SERVER_BUSY
        (mqtt5.PubackReasonCode.PACKET_IDENTIFIER_IN_USE, False),
    ],
)
def test_only_refusals_that_will_not_change_are_permanent(code: int, permanent: bool) -> None:
    link = CloudLink(CloudLinkSettings(host="127.0.0.1", port=1), client_id="lms-test")
    inner: Future[object] = Future()
    inner.set_result(SimpleNamespace(puback=SimpleNamespace(reason_code=code)))
    result: Future[None] = Future()
    link._complete(inner, result, TOPIC)
    exc = result.exception()
    assert isinstance(exc, LinkError) and exc.permanent is permanent
    assert str(exc).startswith(f"publish to {TOPIC} refused: ")


def test_disconnects_and_failed_publishes_are_transient() -> None:
    link = CloudLink(CloudLinkSettings(host="127.0.0.1", port=1), client_id="lms-test")
    exc = link.publish(TOPIC, b"x").exception()  # never started: not connected
    assert isinstance(exc, LinkError) and not exc.permanent
    inner: Future[object] = Future()
    inner.set_exception(RuntimeError("AWS_ERROR_MQTT5_USER_REQUESTED_STOP"))
    result: Future[None] = Future()
    link._complete(inner, result, TOPIC)
    exc = result.exception()
    assert isinstance(exc, LinkError) and not exc.permanent


# ------------------------------------------------------------ API


@dataclass
class Api:
    client: TestClient
    services: Services
    outbox: Outbox
    tokens: dict[str, str]

    def call(self, method: str, path: str, role: str | None = "admin") -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        r = self.client.request(method, path, headers=headers)
        return r.status_code, r.json()


def build_services(tmp_path: Path, store: Store, cloud: CloudSide | None) -> Services:
    return offline_services(store, tmp_path, cloud=cloud)


def tokens_of(services: Services) -> dict[str, str]:
    return {role: services.tokens.create(f"{role} token", role)[1] for role in ("viewer", "operator", "admin")}


@pytest.fixture
def api(tmp_path: Path, store: Store) -> Iterator[Api]:
    outbox = Outbox(store)  # never started: rows moved back stay queued
    link = CloudLink(CloudLinkSettings(host="127.0.0.1", port=1), client_id="lms-test")  # never started
    services = build_services(tmp_path, store, CloudSide(link, outbox))
    tokens = tokens_of(services)
    with TestClient(create_app(services)) as client:
        yield Api(client, services, outbox, tokens)


def test_list_retry_and_discard_dead_letters(api: Api, store: Store) -> None:
    a = OutboxRows(store).put(TOPIC, b'{"a": 1}')
    b = OutboxRows(store).put(TOPIC, b'{"b": 22}')
    OutboxRows(store).dead_letter([a], "publish refused: NOT_AUTHORIZED", failed_at=10.0)
    OutboxRows(store).dead_letter([b], "publish refused: PAYLOAD_FORMAT_INVALID", failed_at=20.0)

    status, body = api.call("GET", "/api/health", role=None)
    assert status == 200
    assert body["data"]["cloud"] == {"connected": False, "outbox_pending": 0, "outbox_dead": 2}

    r = api.client.get("/metrics", headers={"Authorization": f"Bearer {api.tokens['viewer']}"})
    assert r.status_code == 200
    assert "classtop_lms_outbox_dead 2.0" in r.text.splitlines()
    assert "classtop_lms_outbox_depth 0.0" in r.text.splitlines()

    status, body = api.call("GET", "/api/cloud/dead-letters")
    assert status == 200
    data = body["data"]
    assert data["count"] == 2 and data["total"] == 2
    assert [(d["id"], d["topic"], d["size"]) for d in data["dead_letters"]] == [(b, TOPIC, 9), (a, TOPIC, 8)]
    assert "payload" not in data["dead_letters"][0]
    status, body = api.call("GET", "/api/cloud/dead-letters?limit=1")
    assert status == 200 and [d["id"] for d in body["data"]["dead_letters"]] == [b]
    for bad in ("0", "1001", "x"):
        status, body = api.call("GET", f"/api/cloud/dead-letters?limit={bad}")
        assert status == 422 and body["error_code"] == "bad_payload"

    status, body = api.call("POST", f"/api/cloud/dead-letters/{a}/retry")
    assert status == 200
    outbox_id = body["data"]["outbox_id"]
    assert [(i.id, i.payload) for i in OutboxRows(store).peek()] == [(outbox_id, b'{"a": 1}')]
    assert api.outbox.pending() == 1 and api.outbox.dead() == 1

    status, body = api.call("DELETE", f"/api/cloud/dead-letters/{b}")
    assert status == 200 and body["data"] == {"id": b, "discarded": True}
    assert OutboxRows(store).dead_count() == 0
    status, body = api.call("GET", "/api/health", role=None)
    assert body["data"]["cloud"]["outbox_dead"] == 0

    for method, path in (("POST", f"/api/cloud/dead-letters/{a}/retry"), ("DELETE", f"/api/cloud/dead-letters/{b}"),
                         ("POST", "/api/cloud/dead-letters/12345/retry")):  # fmt: skip
        status, body = api.call(method, path)
        assert status == 404 and body["error_code"] == "not_found"
    assert OutboxRows(store).count() == 1  # the failed calls wrote nothing

    audit = api.services.audit.recent(limit=10)
    entries = [(e["action"], e["target"], e["result"]) for e in audit if str(e["action"]).startswith("outbox:")]
    assert sorted(entries) == [("outbox:discard", str(b), "ok"), ("outbox:retry", str(a), "ok")]


def test_only_admins_reach_the_dead_letters(api: Api, store: Store) -> None:
    row = OutboxRows(store).put(TOPIC, b"x")
    OutboxRows(store).dead_letter([row], "refused")
    for role in ("viewer", "operator"):
        for method, path in (("GET", "/api/cloud/dead-letters"), ("POST", f"/api/cloud/dead-letters/{row}/retry"),
                             ("DELETE", f"/api/cloud/dead-letters/{row}")):  # fmt: skip
            status, body = api.call(method, path, role=role)
            assert status == 403 and body["error_code"] == "forbidden", (role, method, path)
    status, body = api.call("GET", "/api/cloud/dead-letters", role=None)
    assert status == 401 and body["error_code"] == "unauthorized"
    assert OutboxRows(store).dead_count() == 1 and OutboxRows(store).count() == 0


def test_without_a_cloud_link_the_dead_letters_are_not_supported(tmp_path: Path, store: Store) -> None:
    services = build_services(tmp_path, store, None)
    admin = tokens_of(services)["admin"]
    with TestClient(create_app(services)) as client:
        headers = {"Authorization": f"Bearer {admin}"}
        for method, path in (("GET", "/api/cloud/dead-letters"), ("POST", "/api/cloud/dead-letters/1/retry"),
                             ("DELETE", "/api/cloud/dead-letters/1")):  # fmt: skip
            r = client.request(method, path, headers=headers)
            assert r.status_code == 501 and r.json()["error_code"] == "not_supported"
        assert client.get("/api/health").json()["data"]["cloud"] is None
        metrics = client.get("/metrics", headers=headers).text
        assert "classtop_lms_outbox_dead" not in metrics
