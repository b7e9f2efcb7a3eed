"""The LMS's agent-event service (real SQLite store and outbox table) and its video proxy (a real HTTP server)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.lms.auth import Principal, Role
from edge.lms.cctv import VideoTickets
from edge.lms.cctv.cctv_proxy import CctvProxy, ProxyError, server_from_config, server_from_url
from edge.lms.cloud import Outbox
from edge.lms.cloud.event_forwarding import forwarded, site_event_messages
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.events import AgentEvents
from edge.lms.store import Store
from shared.messages import Event, Response, Severity, decode, encode
from shared.messages import SiteEvents as CloudSiteEvents
from shared.messages.site import MAX_EVENTS_PER_MESSAGE
from shared.names import Namespace
from shared.topics import SiteUp, site_up


def ev(kind: str, severity: Severity = Severity.INFO, at: float | None = None, **data: Any) -> Event:
    return Event(timestamp=time.time() if at is None else at, kind=kind, severity=severity, data=data)


def test_only_cctv_health_and_warnings_go_up() -> None:
    assert forwarded(ev("cctv.frozen")) and forwarded(ev("health.disk")) and forwarded(ev("x.y", Severity.ERROR))
    assert not forwarded(ev("agent.note")) and not forwarded(ev("command.state", Severity.WARNING))
    assert not forwarded(ev("processes")) and not forwarded(ev("classtop.snapshot", Severity.CRITICAL))


def test_site_event_messages_split_by_count_and_size_and_match_the_cloud_model() -> None:
    many = [("agent-1", ev("cctv.frozen", at=float(i), camera_id="c")) for i in range(MAX_EVENTS_PER_MESSAGE + 1)]
    messages = site_event_messages(many)
    assert [len(m.events) for m in messages] == [MAX_EVENTS_PER_MESSAGE, 1]
    big = [("agent-1", ev("cctv.error", at=float(i), blob="x" * 30_000)) for i in range(7)]
    split = site_event_messages(big)
    assert len(split) > 1 and all(len(encode(m)) <= 96 * 1024 + 31_000 for m in split)
    for message in (*messages, *split):
        cloud = decode(CloudSiteEvents, encode(message))
        assert [e.agent_id for e in cloud.events] == [e.agent_id for e in message.events]
    assert sum(len(m.events) for m in split) == 7


def test_events_are_stored_deduplicated_forwarded_and_pruned(store: Store) -> None:
    outbox = Outbox(store)  # its pump is not started: rows stay in the table
    events = AgentEvents(store, namespace=Namespace("demo", "dev"), site_id="school-1", retention_days=1, max_rows=3,
                         prune_interval_s=3600, outbox=outbox).start()
    try:
        now = time.time()
        frozen = ev("cctv.frozen", Severity.WARNING, at=now, camera_id="door")
        events.add("agent-1", frozen)
        events.add("agent-1", frozen)  # redelivered
        events.add("agent-1", ev("agent.note", at=now + 1))
        events.add("agent-2", ev("cctv.covered", Severity.WARNING, at=now + 2, camera_id=7))
        events.add("agent-1", ev("command.state", at=now, request_id="r1", status="queued"))
        events.add("agent-1", ev("command.state", at=now + 1, request_id="r1", status="running"))
        events.add("agent-1", ev("command.state", at=now, request_id="r2", status="bogus"))
        events.add("agent-1", ev("processes", at=now, count=5))
        assert events.flush(5)
        assert events.stats.duplicates == 1
        assert [r["kind"] for r in events.recent()] == ["cctv.covered", "agent.note", "cctv.frozen"]
        assert [r["kind"] for r in events.recent(agent_id="agent-2")] == ["cctv.covered"]
        assert [r["kind"] for r in events.recent(kind="cctv.*")] == ["cctv.covered", "cctv.frozen"]
        assert [r["kind"] for r in events.recent(kind="cctv.frozen")] == ["cctv.frozen"]
        assert [r["kind"] for r in events.recent(severity=Severity.WARNING, limit=1)] == ["cctv.covered"]
        assert events.progress.recent() == [
            {"request_id": "r1", "agent_id": "agent-1", "status": "running", "at": now + 1}]
        assert events.processes("agent-1") is not None and events.processes("agent-1")["count"] == 5  # type: ignore[index]
        assert store.query("SELECT client_uuid, event_type, camera_id FROM cctv_logs ORDER BY id") == [
            ("agent-1", "cctv.frozen", "door"), ("agent-2", "cctv.covered", "7")]
        rows = OutboxRows(store).peek()
        # sent to the site_events rule with Basic Ingest
        assert [r.topic for r in rows] == [site_up(Namespace("demo", "dev"), "school-1", SiteUp.EVENTS)]
        assert rows[0].topic.endswith("/ct/demo/dev/site/school-1/up/events")
        up = decode(CloudSiteEvents, rows[0].payload)
        assert [(e.agent_id, e.event.kind) for e in up.events] == [("agent-1", "cctv.frozen"),
                                                                    ("agent-2", "cctv.covered")]

        # retention: by age (events and the cctv.* rows of cctv_logs, not the control actions), then by count
        store.query("INSERT INTO cctv_logs (client_uuid, event_type, camera_id, details, created_at) "
                    "VALUES ('agent-1', 'start_recording', 'door', '{}', 1)")
        events.add("agent-1", ev("cctv.old", at=1.0))
        for i in range(4):
            events.add("agent-1", ev("agent.note", at=now + 10 + i))
        assert events.flush(5)
        deleted = events.prune()
        assert deleted == 1 + 1 + 4  # the old event, its cctv_logs row, and the four oldest beyond max_rows
        assert [r["timestamp"] for r in events.recent()] == [now + 13, now + 12, now + 11]
        assert store.query("SELECT event_type FROM cctv_logs WHERE created_at = 1") == [("start_recording",)]
    finally:
        events.stop()


def test_a_store_failure_is_counted_and_the_writer_carries_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "lms.db").open()
    events = AgentEvents(store, namespace=Namespace("demo", "dev"), site_id="s").start()
    try:
        with sqlite3.connect(tmp_path / "lms.db") as db:
            db.execute("DROP TABLE events")
        events.add("agent-1", ev("agent.note"))
        assert events.flush(5) and events.stats.write_errors == 1
    finally:
        events.stop()
        store.close()


# ------------------------------------------------------------------ the video proxy


class _VideoServer:
    """A stand-in for the agent's MJPEG server: wants ``?token=<current>``."""

    def __init__(self) -> None:
        self.token = "t1"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if f"token={owner.token}" not in query:
                    self.send_response(403)
                    self.end_headers()
                    return
                if path == "/cameras/door/snapshot.jpg":
                    body = b"\xff\xd8jpeg\xff\xd9"
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                body = b"camera busy"
                self.send_response(409)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class _Router:
    """Answers ``cctv_get_config`` as the agent would (the real router needs a broker; see the integration test)."""

    def __init__(self, server: _VideoServer) -> None:
        self.server = server
        self.asked = 0

    async def send_async(self, agent_id: str, command: str, params: Any = None, timeout_s: Any = None,
                         *, source: str = "api") -> Response:
        self.asked += 1
        if agent_id != "agent-1":
            return Response.fail("r", "unknown_agent", f"unknown agent {agent_id}")  # type: ignore[arg-type]
        data = {"stream_server": {"running": True, "host": "127.0.0.1", "port": self.server.port,
                                  "token": self.server.token}}
        return Response(request_id="r", success=True, data=data)


def test_the_proxy_refreshes_a_stale_token_once_and_maps_upstream_errors() -> None:
    server = _VideoServer()
    router = _Router(server)
    proxy = CctvProxy(router)

    async def scenario() -> None:
        body, media = await proxy.read("agent-1", "/cameras/door/snapshot.jpg")
        assert (body, media, router.asked) == (b"\xff\xd8jpeg\xff\xd9", "image/jpeg", 1)
        server.token = "t2"  # the agent restarted
        body, _ = await proxy.read("agent-1", "/cameras/door/snapshot.jpg")
        assert body.startswith(b"\xff\xd8") and router.asked == 2
        with pytest.raises(ProxyError) as busy:
            await proxy.open("agent-1", "/cameras/door/stream.mjpg")
        assert (busy.value.status, busy.value.code.value, busy.value.message) == (409, "conflict", "camera busy")
        with pytest.raises(ProxyError) as unknown:
            await proxy.open("agent-9", "/cameras/door/stream.mjpg")
        assert (unknown.value.status, unknown.value.code.value) == (404, "unknown_agent")

    try:
        asyncio.run(scenario())
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_video_server_addresses() -> None:
    running = {"stream_server": {"running": True, "host": "0.0.0.0", "port": 8081, "token": "k"}}
    assert server_from_config(running, "10.0.0.7").base_url == "http://10.0.0.7:8081"
    with pytest.raises(ProxyError):
        server_from_config(running, None)
    with pytest.raises(ProxyError) as stopped:
        server_from_config({"stream_server": {"running": False, "error": "port taken"}}, None)
    assert "port taken" in stopped.value.message
    url = server_from_url("http://[::1]:9000/cameras/a/stream.mjpg?token=abc")
    assert url is not None and (url.base_url, url.token) == ("http://[::1]:9000", "abc")
    assert server_from_url("http://h/cameras/a/stream.mjpg") is None


def test_events_for_the_cloud_wait_for_the_outbox(store: Store) -> None:
    events = AgentEvents(store, namespace=Namespace("demo", "dev"), site_id="s", await_outbox=True).start()
    try:
        events.add("agent-1", ev("cctv.frozen", Severity.WARNING, camera_id="door"))
        assert events.flush(5) and OutboxRows(store).count() == 0 and len(events.recent()) == 1
        events.set_outbox(Outbox(store))
        events.add("agent-1", ev("cctv.frozen_cleared", camera_id="door"))
        assert events.flush(5)
        up = [e.event.kind for row in OutboxRows(store).peek() for e in decode(CloudSiteEvents, row.payload).events]
        assert up == ["cctv.frozen", "cctv.frozen_cleared"]
    finally:
        events.stop()


def test_video_tickets_are_bound_to_their_path_and_expire() -> None:
    now = [1000.0]
    tickets = VideoTickets(ttl_s=60, clock=lambda: now[0])
    viewer = Principal(7, "wall", Role.VIEWER)
    live = "/api/cctv/pc-1/cameras/door/live"
    minted = tickets.mint(viewer, live)
    assert minted.expires_at == 1060 and "ctl_" not in minted.ticket
    opened = tickets.verify(minted.ticket, live)
    assert opened is not None and (opened.token_id, opened.role) == (7, Role.VIEWER)
    assert tickets.verify(minted.ticket, "/api/cctv/pc-1/cameras/hall/live") is None  # another path
    assert tickets.verify(minted.ticket.replace(".viewer.", ".admin."), live) is None  # a role raised by hand
    assert tickets.verify(minted.ticket, live) is not None and VideoTickets().verify(minted.ticket, live) is None
    encoded = tickets.mint(viewer, "/api/cctv/pc%2D1/cameras/door/live")  # minted for the encoded form
    assert tickets.verify(encoded.ticket, live) is not None  # checked against the decoded request path
    now[0] += 61
    assert tickets.verify(minted.ticket, live) is None  # expired
    assert tickets.verify("x" * 500, live) is None and tickets.verify("v1.a.b.c.d", live) is None
