"""The ``/ws/{client_uuid}`` connections of unchanged ClassTop clients, and the router's ``legacy`` transport.

* Identity is the path; the connection is the client's presence (online when it opens, offline when it
  closes) and every frame is a sign of life, so the registry's sweeper applies the usual timeout to a client
  that stays connected but silent (``kind`` ``legacy``, at least 1.5 heartbeat periods).
* ``state_update`` fills the registry's settings cache; a successful ``set_setting`` /
  ``update_settings_batch`` updates it too.
* Commands come from :class:`edge.lms.commands.Router` (this hub is its :class:`~edge.lms.commands.Transport` for
  ``legacy`` agents): validated and mapped by :mod:`.protocol`, queued on the connection's writer task,
  answered by the client's ``response`` frames (:meth:`Router.complete`). A client that never answers
  gets the router's ``timeout``; a connection that closes ends its pending commands (``agent_offline``).
* A second connection with the same uuid replaces the first (which is closed with code 4000).
* ``camera_frame``: the latest frame per client is kept for the console (:meth:`latest_frame`), bounded in age
  and in total size, and forgotten when the connection closes (:mod:`.frames`).
* Non-JSON frames, unknown types and bad shapes are logged and dropped; the connection stays up. Frames over
  1 MiB never reach the hub: uvicorn's ``ws_max_size`` closes the connection (1009). A connection sending more
  than ``classtop.frames_per_second`` has the excess dropped unread.

Who may connect is decided before the handshake is answered (:meth:`LegacyHub.admit`, the answer to a refused
one is an HTTP error in the LMS's envelope): a valid uuid, within the per-address handshake rate, the total and
per-address connection limits, and :mod:`.admission` (never an agent's id; the site's policy). A **pending**
client (policy ``approval``) keeps its connection but stays out of the registry — not commandable, not in the
cloud heartbeat — until a site admin approves it (:meth:`promote`: the connection becomes the client's at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from edge.lms.agents import Registry
from edge.lms.commands import Router, Ticket
from edge.lms.config import ClassTopSettings
from edge.lms.legacy import protocol
from edge.lms.legacy.admission import Admissions, Refused
from edge.lms.legacy.admission_rows import Approval
from edge.lms.legacy.frames import LatestFrames
from edge.lms.legacy.protocol import CLIENT_HEARTBEAT_S, Frame, FrameError
from edge.lms.legacy.ratelimit import Bucket, RateLimiter
from shared import topics
from shared.errors import CommandError, ErrorCode
from shared.messages import AgentKind, Response, describe_validation_error

log = logging.getLogger(__name__)

KIND = AgentKind.LEGACY.value
#: Close code sent to a connection replaced by a newer one with the same uuid.
CLOSE_REPLACED = 4000
#: Close code sent to a pending client's connection when a site admin rejects it.
CLOSE_REJECTED = 4003
#: Outgoing frames waiting on one connection (a client runs commands one at a time).
MAX_QUEUED_FRAMES = 1000


@dataclass
class HubStats:
    connections: int = 0
    replaced: int = 0
    refused: int = 0
    frames: int = 0
    dropped: int = 0
    throttled: int = 0
    commands_sent: int = 0


@dataclass(frozen=True, slots=True)
class Admitted:
    """A ``/ws`` handshake the hub will take (:meth:`LegacyHub.admit`); it holds a connection slot."""

    client_uuid: str
    ip: str
    approval: Approval


@dataclass(eq=False)
class _Connection:
    client_uuid: str
    ws: WebSocket
    loop: asyncio.AbstractEventLoop
    ip: str
    rate: Bucket
    pending: bool = False
    registered: bool = False  # in the registry as this client (online while the connection lasts)
    settings: dict[str, str] | None = None  # a pending client's latest state_update (applied when approved)
    outgoing: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(MAX_QUEUED_FRAMES))
    closed: bool = False
    warned: bool = False  # one warning per connection for dropped frames; the rest at debug level

    def put(self, text: str | None) -> None:
        """Queue a frame (event loop thread only); ``None`` stops the writer."""
        try:
            self.outgoing.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("legacy %s: outgoing queue full, frame dropped", self.client_uuid)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class LegacyHub:
    """Create, :meth:`attach` to the router (and registry), serve connections with :meth:`serve`."""

    def __init__(
        self, registry: Registry, router: Router, admissions: Admissions, *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self._clock = clock
        self._registry = registry
        self._router = router
        self._admissions = admissions
        self._settings: ClassTopSettings = admissions.settings
        self._lock = threading.Lock()
        self._conns: dict[str, _Connection] = {}
        self._writes: dict[str, tuple[str, dict[str, str]]] = {}  # request id -> (agent, settings written)
        self._frames = LatestFrames(ttl_s=self._settings.camera_frame_ttl_s,
                                    max_bytes=self._settings.camera_frames_max_bytes, clock=clock)  # fmt: skip
        self._handshakes = RateLimiter(self._settings.connects_per_minute, clock=clock)
        self._slots: dict[str, int] = {}  # source address -> connections open or being admitted
        self._slot_total = 0
        self.stats = HubStats()
        admissions.set_connected_check(self.connected)

    def apply_settings(self, settings: ClassTopSettings) -> None:
        """New ``[classtop]`` limits and presence timeout, live (a cloud configuration change); the connections
        open stay."""
        self._settings = settings
        self._set_timeout()

    def attach(self) -> LegacyHub:
        self._router.add_transport(KIND, self)
        self._set_timeout()
        return self

    def _set_timeout(self) -> None:
        self._registry.set_kind_timeout(KIND, max(self._registry.presence_timeout_s, CLIENT_HEARTBEAT_S * 1.5))

    # ------------------------------------------------------------ queries

    @property
    def admissions(self) -> Admissions:
        return self._admissions

    def connected(self, client_uuid: str) -> bool:
        return client_uuid in self._conns

    def latest_frame(self, client_uuid: str) -> dict[str, Any] | None:
        """The client's latest preview frame: ``{camera_index, frame (base64 JPEG), received_at}``."""
        return self._frames.get(client_uuid)

    @property
    def frames(self) -> LatestFrames:
        return self._frames

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

    async def admit(self, ws: WebSocket, client_uuid: str) -> Admitted:
        """Decide on a ``/ws/{client_uuid}`` handshake before answering it; raises :class:`Refused` (the caller
        answers with that HTTP error). The returned :class:`Admitted` holds a connection slot: pass it to
        :meth:`serve`."""
        ip = ws.client.host if ws.client is not None else ""
        try:
            if not topics.is_valid_id(client_uuid):
                raise Refused(400, ErrorCode.BAD_PAYLOAD, "a ClassTop client uuid is 1-64 letters, digits, '-', '_'")
            wait = self._handshakes.take(ip)
            if wait:
                raise Refused(429, ErrorCode.BUSY, f"too many connection attempts from {ip}; retry in "
                              f"{math.ceil(wait)} s", retry_after_s=wait)  # fmt: skip
            cfg = self._settings
            if client_uuid not in self._conns:  # a reconnect replaces its old connection: no new slot is needed
                if self._slot_total >= cfg.max_connections:
                    raise Refused(503, ErrorCode.BUSY, f"this LMS serves at most {cfg.max_connections} ClassTop "
                                  "connections at once", retry_after_s=5.0)  # fmt: skip
                if self._slots.get(ip, 0) >= cfg.max_connections_per_address:
                    raise Refused(429, ErrorCode.BUSY, f"{ip} has {cfg.max_connections_per_address} ClassTop "
                                  "connections open already", retry_after_s=5.0)  # fmt: skip
        except Refused:
            self.stats.refused += 1
            raise
        self._take_slot(ip)
        try:
            approval = await asyncio.to_thread(self._admissions.admit, client_uuid, ip)  # reads SQLite: not on the loop
        except BaseException:
            self._release_slot(ip)
            self.stats.refused += 1
            raise
        assert approval is not None
        return Admitted(client_uuid, ip, approval)

    async def serve(self, ws: WebSocket, admitted: Admitted) -> None:
        """Run one admitted client's connection until it closes (never raises for the client's faults)."""
        client_uuid, ip = admitted.client_uuid, admitted.ip
        try:
            await ws.accept()
        except BaseException:
            self._release_slot(ip)
            raise
        rate = self._settings.frames_per_second
        conn = _Connection(client_uuid, ws, asyncio.get_running_loop(), ip, Bucket(rate, max(rate, 1.0), self._clock),
                           pending=admitted.approval is Approval.PENDING)  # fmt: skip
        with self._lock:
            old = self._conns.get(client_uuid)
            self._conns[client_uuid] = conn
        self.stats.connections += 1
        if old is not None:
            self.stats.replaced += 1
            log.info("legacy %s: a new connection replaces the old one", client_uuid)
            await self._close(old, CLOSE_REPLACED, "replaced by a newer connection")
        if not conn.pending:
            conn.registered = self._registry.connected(client_uuid, kind=KIND, ip_address=ip)
            if not conn.registered:  # the id became an agent's meanwhile
                await self._close(conn, 1008, "not a ClassTop client")
        writer = asyncio.create_task(self._write_loop(conn), name=f"legacy-writer-{client_uuid}")
        try:
            while not conn.closed:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                self._on_frame(conn, raw)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.debug("legacy %s: connection ended: %s", client_uuid, exc)
        finally:
            conn.closed = True
            conn.put(None)
            with contextlib.suppress(Exception):
                await writer
            self._release_slot(ip)
            with self._lock:
                current = self._conns.get(client_uuid) is conn
                if current:
                    del self._conns[client_uuid]
            if current:
                self._frames.drop(client_uuid)
                if conn.registered:
                    why = f"ClassTop client {client_uuid!r} disconnected"
                    self._router.fail_agent(client_uuid, ErrorCode.AGENT_OFFLINE, why)
                    self._registry.disconnected(client_uuid)

    def promote(self, client_uuid: str) -> bool:
        """A site admin approved ``client_uuid``: its open connection (if any) becomes the client's at once (event
        loop)."""
        conn = self._conns.get(client_uuid)
        if conn is None or conn.closed or not conn.pending:
            return False
        conn.pending = False
        conn.registered = self._registry.connected(client_uuid, kind=KIND, ip_address=conn.ip)
        if not conn.registered:
            return False
        if conn.settings is not None:
            self._registry.set_settings(client_uuid, conn.settings)
        return True

    async def refuse(self, client_uuid: str) -> None:
        """A site admin rejected ``client_uuid``: close its pending connection (it is refused from now on)."""
        conn = self._conns.get(client_uuid)
        if conn is not None and conn.pending:
            await self._close(conn, CLOSE_REJECTED, "rejected by the site admin")

    def _take_slot(self, ip: str) -> None:
        with self._lock:
            self._slots[ip] = self._slots.get(ip, 0) + 1
            self._slot_total += 1

    def _release_slot(self, ip: str) -> None:
        with self._lock:
            left = self._slots.get(ip, 0) - 1
            if left > 0:
                self._slots[ip] = left
            else:
                self._slots.pop(ip, None)
            self._slot_total -= 1

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
                log.info("legacy %s: send failed: %s", conn.client_uuid, exc)
                return

    # ------------------------------------------------------------ frames

    def _on_frame(self, conn: _Connection, raw: str | bytes) -> None:
        self.stats.frames += 1
        if conn.closed:
            return  # replaced: the old connection says nothing more
        if conn.rate.take():
            self.stats.throttled += 1
            self._drop(conn, f"more than {self._settings.frames_per_second:g} frames a second")
            return
        try:
            frame = protocol.parse_frame(raw)
        except FrameError as exc:
            self.stats.dropped += 1
            self._drop(conn, str(exc))
            return
        client_uuid = conn.client_uuid
        if conn.pending:  # not the site's client yet: only who it says it is counts
            if frame.type == "state_update":
                conn.settings = protocol.settings_of(frame)
                self._admissions.seen(client_uuid, name=conn.settings.get("client_name"))
            return
        if not conn.registered:
            return
        if frame.type == "state_update":
            self._registry.touch(client_uuid)
            self._registry.set_settings(client_uuid, protocol.settings_of(frame))
        elif frame.type == "response":
            self._on_response(client_uuid, frame)
        elif frame.type == "camera_frame":
            self._registry.touch(client_uuid)
            self._frames.put(client_uuid, frame.body["camera_index"], frame.body["frame"])
        else:  # heartbeat
            self._registry.touch(client_uuid)

    def _drop(self, conn: _Connection, why: str) -> None:
        """Log a dropped frame: the first of a connection as a warning, the rest at debug level (no log flood)."""
        level = logging.DEBUG if conn.warned else logging.WARNING
        conn.warned = True
        log.log(level, "legacy %s: dropped frame: %s", conn.client_uuid, why)

    def _on_response(self, client_uuid: str, frame: Frame) -> None:
        body = frame.body
        self._registry.touch(client_uuid)
        try:
            if body["success"]:
                response = Response.ok(str(body["request_id"]), body.get("data"))
            else:
                error = str(body.get("error") or "the ClassTop client reported a failure")
                code = ErrorCode.UNKNOWN_COMMAND if error.startswith("Unknown command") else None
                response = Response(request_id=str(body["request_id"]), success=False, error=error[:4096],
                                    error_code=code)  # fmt: skip
        except ValidationError as exc:  # e.g. data nested too deep or holding NaN: the command fails, saying why
            self.stats.dropped += 1
            reason = describe_validation_error(exc, limit=2)
            log.warning("legacy %s: refused response: %s", client_uuid, reason)
            try:
                response = Response.fail(str(body["request_id"]), ErrorCode.BAD_PAYLOAD,
                                         f"the ClassTop client's answer was refused: {reason}")  # fmt: skip
            except ValidationError:
                return  # no usable request id: nothing to answer
        with self._lock:
            write = self._writes.pop(response.request_id, None)
        if self._router.complete(client_uuid, response) and write is not None and response.success:
            data = response.data
            if not (isinstance(data, dict) and data.get("success") is False):
                self._registry.set_settings(client_uuid, write[1], merge=True)
