"""Simulated ClassTop desktop clients for the benches: many WebSocket clients on one asyncio loop in a helper process.

``python bench/_classtop_fleet.py --base ws://127.0.0.1:PORT --count N --counters FILE [--cafile CA]``

Each client behaves as the unchanged ClassTop client does (docs/classtop.md#the-wire-contract): it opens
``/ws/{uuid}``, sends its settings in a ``state_update``, a heartbeat every 30 s, answers every command at once, and
after a lost connection (or a refused one) waits a fixed 5 s and connects again, for ever — no backoff, no jitter:
the seed's client cannot be changed. Each client connects from its own loopback address (``127.1.x.y``), as a
school's PCs come from their own addresses, so the LMS's per-address limits apply as they would on a LAN. The helper
writes its counters (:class:`FleetCounters`) to ``--counters`` twice a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import sys
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.files import write_atomic

#: the seed client's fixed wait before it connects again (docs/classtop.md)
RECONNECT_S = 5.0
HEARTBEAT_S = 30.0


@dataclass
class FleetCounters:
    connected: int = 0  # connections open now
    connects: int = 0  # handshakes accepted in all
    failed: int = 0  # connects that failed below HTTP (the LMS is down)
    refused: dict[str, int] = field(default_factory=dict)  # HTTP status of a refused handshake -> count
    closed: dict[str, int] = field(default_factory=dict)  # close code the LMS sent -> count

    @classmethod
    def read(cls, path: Path) -> FleetCounters:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError):
            return cls()


def source_address(index: int) -> str:
    return f"127.1.{index // 250}.{index % 250 + 1}"


def client_uuids(count: int, seed: int = 17) -> list[str]:
    return [str(uuidlib.UUID(int=(seed << 64) + i + 1)) for i in range(count)]


def _answer(msg: dict[str, Any], settings: dict[str, str]) -> str:
    params = msg.get("params") or {}
    data: Any = settings.get(params.get("key", "")) if msg.get("command") == "get_setting" else dict(settings)
    return json.dumps({"type": "response", "request_id": msg.get("request_id"), "success": True, "data": data})


class ClassTopFleet:
    def __init__(self, base: str, count: int, counters_file: Path, *, cafile: str | None = None,
                 heartbeat_s: float = HEARTBEAT_S) -> None:  # fmt: skip
        self.base = base
        self.ssl = ssl.create_default_context(cafile=cafile) if base.startswith("wss://") else None
        self.heartbeat_s = heartbeat_s
        self.uuids = client_uuids(count)
        self.counters = FleetCounters()
        self.counters_file = counters_file

    async def _session(self, ws: ClientConnection, uuid: str) -> None:
        settings = {"client_uuid": uuid, "theme_mode": "light", "sync_enabled": "false"}
        await ws.send(json.dumps({"type": "state_update", "data": {"settings": settings}}))

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.heartbeat_s)
                await ws.send(json.dumps({"type": "heartbeat", "timestamp": time.monotonic()}))

        beating = asyncio.create_task(beat())
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "command":
                    await ws.send(_answer(msg, settings))
        finally:
            beating.cancel()

    async def _client(self, index: int) -> None:
        uuid = self.uuids[index]
        while True:
            try:
                async with connect(f"{self.base}/ws/{uuid}", open_timeout=30, ping_interval=20, ping_timeout=10,
                                   ssl=self.ssl, local_addr=(source_address(index), 0)) as ws:  # fmt: skip
                    self.counters.connects += 1
                    self.counters.connected += 1
                    try:
                        with contextlib.suppress(ConnectionClosed):
                            await self._session(ws, uuid)
                    finally:
                        self.counters.connected -= 1
                    code = ws.close_code
                    if code is not None:
                        self.counters.closed[str(code)] = self.counters.closed.get(str(code), 0) + 1
            except InvalidStatus as exc:
                status = str(exc.response.status_code)
                self.counters.refused[status] = self.counters.refused.get(status, 0) + 1
            except (OSError, TimeoutError, WebSocketException):
                self.counters.failed += 1
            await asyncio.sleep(RECONNECT_S)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._client(i)) for i in range(len(self.uuids))]
        print("started", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                write_atomic(self.counters_file, json.dumps(asdict(self.counters)))
                await asyncio.sleep(0.5)
        for t in tasks:
            t.cancel()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="ws://host:port of the LMS")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--counters", required=True)
    ap.add_argument("--cafile", help="the CA that certifies a wss:// LMS")
    ap.add_argument("--heartbeat-s", type=float, default=HEARTBEAT_S)
    args = ap.parse_args(argv)
    fleet = ClassTopFleet(args.base, args.count, Path(args.counters), cafile=args.cafile, heartbeat_s=args.heartbeat_s)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(fleet.run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
