"""Command round trip to a ClassTop desktop client through the LMS, beside a raw WebSocket echo, in one run.

1. baseline: a raw WebSocket echo on loopback (a ``websockets`` server, one client: send, wait for the echo);
2. the product path: ``POST /api/clients/{uuid}/command`` ``get_setting`` on a real LMS process (kept-alive
   HTTP connection), the LMS sends the ``command`` frame over the client's ``/ws/{uuid}``, the client answers
   with a ``response`` frame, the LMS replies to HTTP.
3. with ``--legacy N --agents M`` (optional, heavy): N ClassTop clients (asyncio, one helper thread) and M
   simulated MQTT agents (``bench/_sim_agents.py``'s simulator) on one LMS, then one ``get_setting`` batch to all.

The stand-in client answers at once (no work), so the difference is the LMS's cost. Goal: p50 within 5x the
raw echo. ``--storm N`` (needs ``--agents``): the MQTT side's ``ping`` round trip through the LMS before and
during N ClassTop clients reconnecting every 5 s. Usage:
``python bench/legacy_rtt.py [--n 2000] [--legacy 500 --agents 500] [--storm 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect as aconnect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from bench._sim_agents import ADMIN_TOKEN, Site
from infra.local.process import wait_for

#: Every ClassTop client of this bench connects from one address (loopback), hundreds at once: an open site with
#: the per-address limits out of the way (the LMS's ``[classtop]`` section; its defaults suit a school's LAN).
#: The client answers every command at once, far above a real client's pace: the per-connection frame rate too.
CLASSTOP_OPEN = {"client_policy": "open", "max_clients": 100_000, "max_pending": 100_000, "max_connections": 100_000,
                 "max_connections_per_address": 100_000, "connects_per_minute": 1_000_000,
                 "frames_per_second": 10_000}  # fmt: skip


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


# ---------------------------------------------------------------- baseline: raw echo


def echo_baseline(n: int) -> list[float]:
    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Future[None]] = []
    loop = asyncio.new_event_loop()

    async def handler(ws: ServerConnection) -> None:
        async for msg in ws:
            await ws.send(msg)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            fut: asyncio.Future[None] = loop.create_future()
            stop.append(fut)
            ready.set()
            await fut

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    frame = json.dumps({"type": "command", "request_id": "x", "command": "get_setting", "params": {"key": "k"}})
    times: list[float] = []
    with connect(f"ws://127.0.0.1:{port[0]}/echo") as ws:
        for _ in range(n + 50):
            t0 = time.perf_counter()
            ws.send(frame)
            ws.recv()
            times.append(time.perf_counter() - t0)
    loop.call_soon_threadsafe(stop[0].set_result, None)
    thread.join(5)
    return times[50:]


# ---------------------------------------------------------------- stand-in ClassTop clients


def answer(msg: dict[str, Any], settings: dict[str, str]) -> str:
    data: Any = settings.get(msg["params"].get("key", "")) if msg["command"] == "get_setting" else dict(settings)
    return json.dumps({"type": "response", "request_id": msg["request_id"], "success": True, "data": data})


def sync_client(url: str, stop: threading.Event) -> threading.Thread:
    settings = {"theme_mode": "light"}

    def run() -> None:
        with contextlib.suppress(ConnectionClosed), connect(url) as ws:
            ws.send(json.dumps({"type": "state_update", "data": {"settings": settings}}))
            while not stop.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                ws.send(answer(json.loads(raw), settings))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def many_clients(base: str, uuids: list[str], stop: threading.Event, *, storm_s: float = 0.0) -> threading.Thread:
    """``len(uuids)`` clients on one asyncio loop in one thread; ``storm_s``: each drops its connection and
    reconnects every ``storm_s`` seconds (a reconnect storm), else they stay connected."""

    async def session(uuid: str) -> None:
        settings = {"theme_mode": "light", "client_uuid": uuid}
        async with aconnect(f"{base}/ws/{uuid}", open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "state_update", "data": {"settings": settings}}))
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    await ws.send(answer(json.loads(raw), settings))

    async def one(uuid: str) -> None:
        if not storm_s:
            await session(uuid)
            return
        await asyncio.sleep(random.uniform(0, storm_s))  # spread the storm over the period
        while True:
            with contextlib.suppress(asyncio.TimeoutError, OSError, ConnectionClosed):
                await asyncio.wait_for(session(uuid), storm_s)

    async def main() -> None:
        tasks = [asyncio.create_task(one(u)) for u in uuids]
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()

    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------- through the LMS


def lms_rtt(site: Site, uuid: str, n: int, *, floor: bool = False) -> list[float]:
    """``floor``: ``GET /api/clients/{uuid}`` instead (same HTTP + token cost, no command): the HTTP floor."""
    conn = http.client.HTTPConnection("127.0.0.1", site.lms_port)
    body = json.dumps({"command": "get_setting", "params": {"key": "theme_mode"}})
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    times: list[float] = []
    for _ in range(n + 50):
        t0 = time.perf_counter()
        if floor:
            conn.request("GET", f"/api/clients/{uuid}", headers=headers)
        else:
            conn.request("POST", f"/api/clients/{uuid}/command", body, headers)
        reply = json.loads(conn.getresponse().read())
        times.append(time.perf_counter() - t0)
        if not floor and reply.get("data") != "light":
            raise RuntimeError(f"unexpected reply {reply}")
    conn.close()
    return times[50:]


def ping_rtt(site: Site, agent: str, n: int) -> list[float]:
    """``ping`` to one simulated MQTT agent through the LMS (the MQTT side's round trip)."""
    conn = http.client.HTTPConnection("127.0.0.1", site.lms_port)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    times: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("POST", f"/api/clients/{agent}/command", json.dumps({"command": "ping"}), headers)
        if not json.loads(conn.getresponse().read())["success"]:
            raise RuntimeError("ping failed")
        times.append(time.perf_counter() - t0)
    conn.close()
    return times


def storm(site: Site, base: str, count: int, n: int) -> str:
    """MQTT ``ping`` round trip before and during ``count`` ClassTop clients reconnecting every 5 s (driven
    from a helper process, so that the storm's own work does not share this process's GIL with the timing)."""
    quiet = ping_rtt(site, "sim-00000", n)
    helper = subprocess.Popen([sys.executable, __file__, "--storm-clients", base, "--storm", str(count)])
    try:
        time.sleep(6.0)  # every client has connected at least once
        loud = ping_rtt(site, "sim-00000", n)
    finally:
        helper.terminate()
        helper.wait(10)
    return (
        f"MQTT ping through the LMS, p50/p99 ms: quiet {statistics.median(quiet) * 1000:.3f}/"
        f"{pct(quiet, 99) * 1000:.3f}, during a storm of {count} ClassTop clients reconnecting every 5 s "
        f"{statistics.median(loud) * 1000:.3f}/{pct(loud, 99) * 1000:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="round trips measured per path")
    ap.add_argument("--legacy", type=int, default=0, help="scale run: this many ClassTop clients ...")
    ap.add_argument("--agents", type=int, default=0, help="... and this many simulated MQTT agents")
    ap.add_argument("--storm", type=int, default=0, help="then this many ClassTop clients reconnecting every 5 s")
    ap.add_argument("--storm-clients", metavar="BASE", help=argparse.SUPPRESS)  # (internal) the storm helper
    args = ap.parse_args(argv)
    if args.storm_clients:
        forever = threading.Event()
        many_clients(args.storm_clients, [str(uuidlib.uuid4()) for _ in range(args.storm)], forever, storm_s=5.0)
        forever.wait()
        return 0
    echo = echo_baseline(args.n)
    stop = threading.Event()
    with Site(args.agents) as site:
        site.start_lms(classtop=CLASSTOP_OPEN)
        base = f"ws://127.0.0.1:{site.lms_port}"
        uuid = str(uuidlib.uuid4())
        sync_client(f"{base}/ws/{uuid}", stop)
        wait_for("the ClassTop client online", lambda: site.api("GET", f"/api/clients/{uuid}")["data"]["online"], 30)
        rtt = lms_rtt(site, uuid, args.n)
        http_floor = lms_rtt(site, uuid, args.n, floor=True)
        batch_line = ""
        if args.legacy:
            uuids = [str(uuidlib.uuid4()) for _ in range(args.legacy)]
            many_clients(base, uuids, stop)
            total = args.agents + args.legacy + 1

            def everyone() -> bool:
                return bool(site.api("GET", "/api/health")["data"]["agents"]["online"] >= total)

            wait_for(f"{total} clients and agents online", everyone, 180, every_s=0.5)
            t0 = time.perf_counter()
            reply = site.api("POST", "/api/commands/batch", {"command": "get_setting", "params": {"key": "theme_mode"},
                                                             "target": {"all": True}, "concurrency": 2000})  # fmt: skip
            took = time.perf_counter() - t0
            data = reply["data"]
            results = data["results"].values()
            legacy = sum(1 for r in results if r["data"] == "light")
            mqtt = sum(1 for r in results if r["success"] and r["data"] != "light")
            batch_line = (
                f"batch get_setting to {data['count']} targets: {data['succeeded']} succeeded "
                f"({legacy} ClassTop clients, {mqtt} MQTT agents) in {took:.3f} s"
            )
        stop.set()
        storm_line = storm(site, base, args.storm, args.n) if args.storm and args.agents else ""
    print(f"\n{args.n} round trips per path, loopback (cpu count {os.cpu_count()})")
    print(f"{'path':58} {'p50 ms':>8} {'p99 ms':>8}")
    for name, xs in (("raw WebSocket echo (baseline)", echo),
                     ("LMS POST /api/clients/{uuid}/command -> /ws -> response", rtt),
                     ("(HTTP floor: LMS GET /api/clients/{uuid}, no command)", http_floor)):  # fmt: skip
        print(f"{name:58} {statistics.median(xs) * 1000:8.3f} {pct(xs, 99) * 1000:8.3f}")
    print(f"ratio LMS/echo (p50): {statistics.median(rtt) / statistics.median(echo):.2f}")
    if batch_line:
        print(batch_line)
    if storm_line:
        print(storm_line)
    write_results("legacy_rtt", [Figure("ClassTop client command round trip: p50", statistics.median(rtt) * 1000, "ms",
                                        statistics.median(echo) * 1000, "raw WebSocket echo")], params=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
