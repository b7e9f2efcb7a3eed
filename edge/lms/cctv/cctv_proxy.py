"""The LMS's proxy to the agents' MJPEG video servers (live view, snapshots, playback).

Operators need no route to a PC: the LMS fetches ``http://<agent>:<port>/...?token=<agent token>`` and streams
the body on. It learns each agent's video address and token from the ``cctv_get_config`` command (cached per
agent; also learnt from the ``url`` a ``cctv_start_streaming`` answer carries). An agent draws a new token
when it restarts: a 403 from the agent (or a refused connection) drops the cached address, asks again once
and retries.

Streams are read with httpx (async) in chunks of at most :data:`CHUNK_BYTES`; :meth:`Upstream.aclose` closes the
upstream connection (called when the HTTP client goes away).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from edge.lms.errors import LmsError
from shared.errors import ErrorCode
from shared.messages import Response

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
CONFIG_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
#: Between two reads of a live stream (the agent sends a frame at least every few seconds).
READ_TIMEOUT_S = 30.0
CAMERA_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
RECORDING_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,31})/\1_\d{8}-\d{6}-\d{3}\.(mp4|avi)$")


class CommandSender(Protocol):
    """What the proxy needs of the command router: one command, awaited."""

    async def send_async(
        self, agent_id: str, command: str, params: dict[str, Any] | None = None, timeout_s: float | None = None,
        *, source: str = "api",
    ) -> Response: ...


class ProxyError(LmsError):
    """The video could not be proxied; ``status`` and ``code`` are the HTTP answer."""

    def __init__(self, status: int, message: str, code: ErrorCode) -> None:
        super().__init__(message, status)
        self.code = code


@dataclass(frozen=True, slots=True)
class VideoServer:
    """Where an agent's video server is and the token it wants."""

    base_url: str  # http://host:port
    token: str


#: HTTP statuses of the agent's video server -> (our status, error code).
_UPSTREAM = {
    400: (422, ErrorCode.INVALID_PARAMS),
    404: (404, ErrorCode.NOT_FOUND),
    409: (409, ErrorCode.CONFLICT),
    503: (503, ErrorCode.BUSY),
}


def _host_for_url(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def server_from_config(data: Any, fallback_host: str | None) -> VideoServer:
    """The video server from a ``cctv_get_config`` answer's ``stream_server`` ``{running, host, port, token}``."""
    server = data.get("stream_server") if isinstance(data, dict) else None
    if not isinstance(server, dict) or not server.get("running"):
        error = server.get("error") if isinstance(server, dict) else None
        raise ProxyError(503, f"the agent's video server is not running{f': {error}' if error else ''}",
                         ErrorCode.NOT_SUPPORTED)
    host, port, token = server.get("host"), server.get("port"), server.get("token")
    if not isinstance(host, str) or not isinstance(port, int) or not isinstance(token, str) or not token:
        raise ProxyError(502, "the agent's cctv_get_config answer has no usable stream_server", ErrorCode.INTERNAL)
    if host in ("", "0.0.0.0", "::"):  # listening on every address: reach it where the agent is
        if not fallback_host:
            raise ProxyError(502, "the agent's video server listens on all addresses and its address is unknown",
                             ErrorCode.INTERNAL)
        host = fallback_host
    return VideoServer(f"http://{_host_for_url(host)}:{port}", token)


def server_from_url(url: str) -> VideoServer | None:
    """The video server from a ``cctv_start_streaming`` ``url`` (``http://h:p/cameras/x/stream.mjpg?token=t``)."""
    try:
        parts = urlsplit(url)
        token = parse_qs(parts.query).get("token", [""])[-1]
        if parts.scheme != "http" or not parts.hostname or parts.port is None or not token:
            return None
        return VideoServer(f"http://{_host_for_url(parts.hostname)}:{parts.port}", token)
    except ValueError:
        return None


class Upstream:
    """An open upstream response: its content type, its body in chunks, and :meth:`aclose`."""

    def __init__(self, client: httpx.AsyncClient, response: httpx.Response) -> None:
        self._client = client
        self.response = response
        self.media_type = response.headers.get("content-type", "application/octet-stream")

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw(CHUNK_BYTES):
                yield chunk
        except httpx.HTTPError as exc:
            log.info("cctv proxy: upstream stream ended: %s", exc)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        try:
            await self.response.aclose()
        finally:
            await self._client.aclose()


class CctvProxy:
    """Opens agents' video URLs. One per app; safe to use from the API's event loop."""

    def __init__(self, router: CommandSender, *, address_of: Callable[[str], str | None] | None = None) -> None:
        self._router = router
        self._address_of = address_of  # agent id -> its IP address (for servers on 0.0.0.0); may be None
        self._servers: dict[str, VideoServer] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.stats = {"opened": 0, "refreshed": 0, "failed": 0}

    def learn(self, agent_id: str, url: str) -> None:
        """Remember the video server named by a ``cctv_start_streaming`` answer."""
        server = server_from_url(url)
        if server is not None:
            self._servers[agent_id] = server

    def forget(self, agent_id: str) -> None:
        self._servers.pop(agent_id, None)

    def cached(self, agent_id: str) -> VideoServer | None:
        return self._servers.get(agent_id)

    async def server(self, agent_id: str, *, refresh: bool = False) -> VideoServer:
        """The agent's video server (asks with ``cctv_get_config`` when not cached or ``refresh``)."""
        lock = self._locks.setdefault(agent_id, asyncio.Lock())
        async with lock:
            known = self._servers.get(agent_id)
            if known is not None and not refresh:
                return known
            response = await self._router.send_async(agent_id, "cctv_get_config", {}, CONFIG_TIMEOUT_S,
                                                     source="cctv-proxy")
            if not response.success:
                code = response.error_code or ErrorCode.INTERNAL
                status = {ErrorCode.UNKNOWN_AGENT: 404, ErrorCode.AGENT_OFFLINE: 409, ErrorCode.TIMEOUT: 504,
                          ErrorCode.NOT_SUPPORTED: 409}.get(code, 502)
                raise ProxyError(status, f"cctv_get_config: {response.error}", code)
            fallback = self._address_of(agent_id) if self._address_of is not None else None
            server = server_from_config(response.data, fallback)
            self._servers[agent_id] = server
            self.stats["refreshed"] += 1
            return server

    async def open(self, agent_id: str, path: str, query: dict[str, str] | None = None) -> Upstream:
        """GET ``path`` (already quoted) on the agent's video server; raises :class:`ProxyError` for non-200."""
        for attempt in (0, 1):
            server = await self.server(agent_id, refresh=attempt > 0)
            params = {**(query or {}), "token": server.token}
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S), follow_redirects=False
            )
            try:
                request = client.build_request("GET", server.base_url + path, params=params)
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                await client.aclose()
                self.forget(agent_id)
                if attempt == 0:
                    continue
                self.stats["failed"] += 1
                message = f"cannot reach the agent's video server: {exc}"
                raise ProxyError(502, message, ErrorCode.AGENT_OFFLINE) from None
            if response.status_code == 200:
                self.stats["opened"] += 1
                return Upstream(client, response)
            text = (await response.aread())[:500].decode("utf-8", "replace").strip()
            await response.aclose()
            await client.aclose()
            if response.status_code == 403 and attempt == 0:
                self.forget(agent_id)  # the agent restarted: a new token
                continue
            self.stats["failed"] += 1
            status, code = _UPSTREAM.get(response.status_code, (502, ErrorCode.INTERNAL))
            raise ProxyError(status, text or f"the agent's video server answered {response.status_code}", code)
        raise AssertionError("unreachable")

    async def read(self, agent_id: str, path: str, limit: int = MAX_SNAPSHOT_BYTES) -> tuple[bytes, str]:
        """GET a small body (a snapshot) whole: ``(bytes, content type)``."""
        upstream = await self.open(agent_id, path)
        data = bytearray()
        try:
            async for chunk in upstream.response.aiter_raw(CHUNK_BYTES):
                data += chunk
                if len(data) > limit:
                    raise ProxyError(502, f"the agent sent more than {limit} bytes", ErrorCode.PAYLOAD_TOO_LARGE)
        except httpx.HTTPError as exc:
            raise ProxyError(502, f"reading from the agent failed: {exc}", ErrorCode.INTERNAL) from None
        finally:
            await upstream.aclose()
        return bytes(data), upstream.media_type


def live_path(camera_id: str) -> str:
    return f"/cameras/{quote(camera_id, safe='')}/stream.mjpg"


def snapshot_path(camera_id: str) -> str:
    return f"/cameras/{quote(camera_id, safe='')}/snapshot.jpg"


def playback_path(name: str) -> str:
    camera, _, file = name.partition("/")
    return f"/recordings/{quote(camera, safe='')}/{quote(file, safe='')}"
