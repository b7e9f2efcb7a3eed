"""Command round trip on site with 0 and with 200 open console pages listening to the push channel, side by side.

The site is ``bench/rtt.py``'s: one broker, ``--agents`` simulated agents (heartbeat 5 s, metrics 15 s), a real
LMS and one real agent. The round trip is HTTP ``POST /api/clients/agent-1/command`` (``ping``) over one keep-alive
connection. The listeners are ``--pages`` streams of ``GET /api/live`` opened by a separate process (as browsers
are), each taking every kind of change (metrics of every agent included: the worst case), and reading all of it.

Measured in alternating rounds (0 pages, N pages, 0, N...) so that the machine's noise falls on both alike; prints
the median and p99 of each and their ratio, and what the pages received. Usage:
``python bench/console_push.py [--n 1000] [--rounds 2] [--pages 200] [--agents 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from bench._sim_agents import ADMIN_TOKEN, Site
from bench.rtt import lms_round_trips, pct, real_agent
from infra.local.process import wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _listen(port: int, pages: int, counts: list[int]) -> None:
    async def page(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())  # fmt: skip
        await writer.drain()
        while chunk := await reader.read(65536):
            counts[i] += chunk.count(b"\nevent: ")

    await asyncio.gather(*(page(i) for i in range(pages)), return_exceptions=True)


def listeners_main(port: int, pages: int) -> int:
    """The child process: ``pages`` open streams; prints the messages received when told to stop (stdin closes)."""
    counts = [0] * pages
    loop = asyncio.new_event_loop()
    task = loop.create_task(_listen(port, pages, counts))
    loop.run_until_complete(asyncio.sleep(0))
    loop.add_reader(sys.stdin.fileno(), task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        loop.run_until_complete(task)
    print(json.dumps({"pages": pages, "messages": sum(counts), "least": min(counts)}), flush=True)
    return 0


def live_metric(site: Site, name: str) -> float:
    """One of the LMS's ``/metrics`` values."""
    conn = http.client.HTTPConnection("127.0.0.1", site.lms_port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return float(next(x for x in text.splitlines() if x.startswith(f"{name} ")).split()[1])


def open_pages(site: Site, pages: int) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--listeners", str(pages), "--port", str(site.lms_port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip

    def all_open() -> bool:
        return live_metric(site, "classtop_lms_live_streams") >= pages

    wait_for("the pages' streams", all_open, 60, every_s=0.5)
    return child


def close_pages(child: subprocess.Popen[str]) -> dict[str, int]:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.close()  # the child's cue to hang up and report
    out = child.stdout.read()
    child.wait(timeout=60)
    result: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="round trips per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pages", type=int, default=200, help="open console pages in the loaded rounds")
    ap.add_argument("--agents", type=int, default=1000, help="simulated agents (heartbeat 5 s, metrics 15 s)")
    ap.add_argument("--listeners", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.listeners is not None:
        return listeners_main(args.port, args.listeners)
    quiet: list[float] = []
    loaded: list[float] = []
    received: list[dict[str, int]] = []
    published: list[int] = []
    with Site(args.agents, heartbeat_s=5.0, metrics_s=15.0, extra_users=["agent-1"]) as site, real_agent(site):
        for r in range(args.rounds):
            quiet += lms_round_trips(site.lms_port, args.n)
            child = open_pages(site, args.pages)
            try:
                before = live_metric(site, "classtop_lms_live_changes_total")
                loaded += lms_round_trips(site.lms_port, args.n)
                published.append(int(live_metric(site, "classtop_lms_live_changes_total") - before))
                time.sleep(1.0)  # the last flush reaches every page
            finally:
                received.append(close_pages(child))
            print(f"round {r + 1}: 0 pages p50 {statistics.median(quiet):.3f} ms; {args.pages} pages "
                  f"p50 {statistics.median(loaded):.3f} ms", file=sys.stderr)  # fmt: skip
    q50, l50 = statistics.median(quiet), statistics.median(loaded)
    q99, l99 = pct(quiet, 99), pct(loaded, 99)
    print(f"\ncommand round trip on site, {args.agents} simulated agents, {args.rounds} alternating rounds of "
          f"n={args.n} (cpu count {os.cpu_count()})")  # fmt: skip
    print(f"{'open console pages':24} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'0 (baseline)':24} {q50:8.3f} {q99:8.3f}")
    print(f"{args.pages:<24} {l50:8.3f} {l99:8.3f}")
    print(f"{'ratio':24} {l50 / q50:8.2f} {l99 / q99:8.2f}")
    messages = sum(r["messages"] for r in received)
    short = [r["least"] - p for r, p in zip(received, published, strict=True)]
    print(f"the pages received {messages} pushed changes in all; per round, changes published while measuring: "
          f"{published}, and the page that got the fewest got {[r['least'] for r in received]} "
          f"({'none missed' if min(short) >= 0 else 'SOME MISSED'})")
    write_results("console_push", [Figure(f"round trip p50 with {args.pages} console pages open", l50, "ms", q50,
                                          "no page open"),
                                   Figure(f"round trip p99 with {args.pages} console pages open", l99, "ms", q99,
                                          "no page open")], params=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
