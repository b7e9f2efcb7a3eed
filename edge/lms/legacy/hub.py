"""The ``/ws/{client_uuid}`` connections of unchanged ClassTop clients, and the router's ``legacy`` transport.

* Identity is the path; the connection is the client's presence (online when it opens, offline when it
  closes) and every frame is a sign of life, so the registry's sweeper applies the usual timeout to a client
  that stays connected but silent (``kind`` ``legacy``, at least 1.5 heartbeat periods).
* ``state_update`` fills the registry's settings cache; a successful ``set_setting`` /
  ``update_settings_batch`` updates it too.
* Commands come from :class:`edge.lms.router.Router` (this hub is its :class:`~edge.lms.router.Transport`
  for ``legacy`` agents): validated and mapped by :mod:`.protocol`, queued on the connection's writer task,
  answered by the client's ``response`` frames (:meth:`Router.complete`). A client that never answers
  gets the router's ``timeout``; a connection that closes ends its pending commands (``agent_offline``).
* A second connection with the same uuid replaces the first (which is closed with code 4000).
* ``camera_frame``: the latest frame per client is kept for the console (:meth:`latest_frame`).
* Frames over 1 MiB, non-JSON and unknown types are logged and dropped; the connection stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from edge.lms.legacy import protocol
from edge.lms.legacy.protocol import CLIENT_HEARTBEAT_S, Frame, FrameError
from edge.lms.registry import Registry
from edge.lms.router import Router, Ticket
from shared import topics
from shared.errors import CommandError, ErrorCode
from shared.messages import AgentKind, Response

log = logging.getLogger(__name__)

KIND = AgentKind.LEGACY.value
#: Close code sent to a connection replaced by a newer one with the same uuid.
CLOSE_REPLACED = 4000
#: Outgoing frames waiting on one connection (a client runs commands one at a time).
MAX_QUEUED_FRAMES = 1000


@dataclass
class HubStats:
    connections: int = 0
    replaced: int = 0
    frames: int = 0
    dropped: int = 0
    commands_sent: int = 0


@dataclass(eq=False)
class _Connection:
    uuid: str
    ws: WebSocket
    loop: asyncio.AbstractEventLoop
    outgoing: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED_FRAMES))
    closed: bool = False

    def put(self, text: str | None) -> None:
        """Queue a frame (event loop thread only); ``None`` stops the writer."""
        try:
            self.outgoing.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("legacy %s: outgoing queue full, frame dropped", self.uuid)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LegacyHub:
    """Create, :meth:`attach` to the router (and registry), serve connections with :meth:`serve`."""

    def __init__(self, registry: Registry, router: Router) -> None:
        self._registry = registry
        self._router = router
        self._lock = threading.Lock()
        self._conns: dict[str, _Connection] = {}
        self._writes: dict[str, tuple[str, dict[str, str]]] = {}  # request id -> (agent, settings written)
        self._frames: dict[str, dict[str, Any]] = {}
        self.stats = HubStats()

    def attach(self) -> LegacyHub:
        self._router.add_transport(KIND, self)
        self._registry.set_kind_timeout(KIND, max(self._registry.presence_timeout_s, CLIENT_HEARTBEAT_S * 1.5))
        return self

    # ------------------------------------------------------------ queries

    def connected(self, uuid: str) -> bool:
        return uuid in self._conns

    @property
    def connection_count(self) -> int:
        return len(self._conns)

    def latest_frame(self, uuid: str) -> dict[str, Any] | None:
        """The client's latest preview frame: ``{camera_index, frame (base64 JPEG), received_at}``."""
        return self._frames.get(uuid)

    # ------------------------------------------------------------ router transport (any thread)

    def validate(self, ticket: Ticket) -> Response | None:
        try:
            ticket.params = protocol.validate(ticket.command, ticket.params)
        except CommandError as exc:
            return Response.fail(ticket.request_id, exc.code, exc.message)
        return None

    def send(self, ticket: Ticket) -> str | None:
        conn = self._conns.get(ticket.agent_id)
        if conn is None or conn.closed:
            return f"ClassTop client {ticket.agent_id!r} is not connected"
        written = protocol.written_settings(ticket.command, ticket.params)
        if written is not None:
            with self._lock:
                self._writes[ticket.request_id] = (ticket.agent_id, written)
            ticket.future.add_done_callback(functools.partial(self._forget_write, ticket.request_id))
        text = json.dumps(protocol.to_wire(ticket.request_id, ticket.command, ticket.params), ensure_ascii=False)
        if _running_loop() is conn.loop:
            conn.put(text)  # an API handler on the event loop: no cross-thread wake-up needed
        else:
            conn.loop.call_soon_threadsafe(conn.put, text)
        self.stats.commands_sent += 1
        return None

    def _forget_write(self, request_id: str, _future: object = None) -> None:
        with self._lock:
            self._writes.pop(request_id, None)

    # ------------------------------------------------------------ connections (event loop)

    async def serve(self, ws: WebSocket, uuid: str) -> None:
        """Run one client's connection until it closes (never raises for the client's faults)."""
        if not topics.is_valid_id(uuid):
            await ws.close(code=1008, reason="bad client uuid")
            return
        await ws.accept()
        conn = _Connection(uuid, ws, asyncio.get_running_loop())
        with self._lock:
            old = self._conns.get(uuid)
            self._conns[uuid] = conn
        self.stats.connections += 1
        if old is not None:
            self.stats.replaced += 1
            log.info("legacy %s: a new connection replaces the old one", uuid)
            await self._close(old, CLOSE_REPLACED, "replaced by a newer connection")
        ip = ws.client.host if ws.client is not None else None
        self._registry.connected(uuid, kind=KIND, ip_address=ip)
        writer = asyncio.create_task(self._write_loop(conn), name=f"legacy-writer-{uuid}")
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                self._on_frame(conn, raw)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("legacy %s: connection ended: %s", uuid, exc)
        finally:
            conn.closed = True
            conn.put(None)
            with contextlib.suppress(Exception):
                await writer
            with self._lock:
                current = self._conns.get(uuid) is conn
                if current:
                    del self._conns[uuid]
            if current:
                self._router.fail_agent(uuid, ErrorCode.AGENT_OFFLINE, f"ClassTop client {uuid!r} disconnected")
                self._registry.disconnected(uuid)

    async def _close(self, conn: _Connection, code: int, reason: str) -> None:
        conn.closed = True
        conn.put(None)
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code, reason=reason)

    async def _write_loop(self, conn: _Connection) -> None:
        while True:
            text = await conn.outgoing.get()
            if text is None:
                return
            try:
                await conn.ws.send_text(text)
            except Exception as exc:  # the connection is gone: the reader ends it
                log.info("legacy %s: send failed: %s", conn.uuid, exc)
                return

    # ------------------------------------------------------------ frames

    def _on_frame(self, conn: _Connection, raw: str | bytes) -> None:
        self.stats.frames += 1
        try:
            frame = protocol.parse_frame(raw)
        except FrameError as exc:
            self.stats.dropped += 1
            log.warning("legacy %s: dropped frame: %s", conn.uuid, exc)
            return
        if conn.closed:
            return  # replaced: the old connection says nothing more
        uuid = conn.uuid
        if frame.type == "state_update":
            self._registry.touch(uuid)
            self._registry.set_settings(uuid, protocol.settings_of(frame))
        elif frame.type == "response":
            self._on_response(uuid, frame)
        elif frame.type == "camera_frame":
            self._registry.touch(uuid)
            self._frames[uuid] = {"camera_index": frame.body["camera_index"], "frame": frame.body["frame"],
                                  "received_at": time.time()}  # fmt: skip
        else:  # heartbeat
            self._registry.touch(uuid)

    def _on_response(self, uuid: str, frame: Frame) -> None:
        body = frame.body
        self._registry.touch(uuid)
        try:
            if body["success"]:
                response = Response.ok(str(body["request_id"]), body.get("data"))
            else:
                error = str(body.get("error") or "the ClassTop client reported a failure")
                code = ErrorCode.UNKNOWN_COMMAND if error.startswith("Unknown command") else None
                response = Response(request_id=str(body["request_id"]), success=False, error=error[:4096],
                                    error_code=code)  # fmt: skip
        except ValidationError as exc:
            self.stats.dropped += 1
            log.warning("legacy %s: dropped response: %s", uuid, exc.errors()[0].get("msg"))
            return
        with self._lock:
            write = self._writes.pop(response.request_id, None)
        if self._router.complete(uuid, response) and write is not None and response.success:
            data = response.data
            if not (isinstance(data, dict) and data.get("success") is False):
                self._registry.set_settings(uuid, write[1], merge=True)
