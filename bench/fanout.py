"""One batch command to 1,000 simulated agents through the LMS, beside its baseline, in one run.

1. baseline: the same 1,000 request/response exchanges done directly over MQTT from one client (no LMS):
   publish a ``Command`` to each agent's down topic, wait for every ``Response``;
2. the product path: ``POST /api/commands/batch`` ``{"command": "ping", "target": {"all": true}}`` on a real
   LMS process, all results back in the HTTP reply.

The simulated agents are ``bench/_sim_agents.py``'s: paho clients in ONE helper process, driven by one selector loop
(no thread per agent), each answering every ``Command`` with a ``Response``.

Both paths also print the CPU each process spent per command (Linux ``/proc``): the site broker, the simulated agents,
and the sender (the baseline's client, or the LMS). All of them share the machine's cores, so the fan-out's time
follows their sum: what the LMS spends per command beyond the baseline's client is what the ratio measures.

Usage: ``python bench/fanout.py [--agents 1000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from bench._sim_agents import Site, nodelay
from bench.rtt import cpu_s
from shared import topics
from shared.messages import Command, Response, decode, encode
from shared.topics import AgentUp


def baseline(site: Site) -> float:
    """Seconds for one client to send a ``ping`` to every agent and get every ``Response`` back."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-req-{secrets.token_hex(3)}")
    c.username_pw_set("bench-req", site.pw["bench-req"])
    c.max_inflight_messages_set(100)
    c.on_socket_open = nodelay
    pending: set[str] = set()
    done = threading.Event()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        pending.discard(decode(Response, bytes(msg.payload)).request_id)
        if not pending:
            done.set()

    subscribed = threading.Event()
    c.on_message = on_message
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect(site.broker.host, site.broker.port)
    c.loop_start()
    c.subscribe(topics.all_agents_up_filter(AgentUp.RESPONSE), qos=1)
    subscribed.wait(10)
    run = secrets.token_hex(3)
    commands = [(a, Command(request_id=f"b{run}-{i}", command="ping")) for i, a in enumerate(site.ids)]
    pending.update(cmd.request_id for _a, cmd in commands)
    t0 = time.perf_counter()
    for agent_id, cmd in commands:
        c.publish(topics.agent_down(agent_id), encode(cmd), qos=1)
    if not done.wait(60):
        raise RuntimeError(f"baseline: {len(pending)} responses missing")
    elapsed = time.perf_counter() - t0
    c.loop_stop()
    c.disconnect()
    return elapsed


def through_lms(site: Site, concurrency: int) -> float:
    t0 = time.perf_counter()
    request = {"command": "ping", "target": {"all": True}, "concurrency": concurrency, "timeout_s": 30}
    body = site.api("POST", "/api/commands/batch", request)
    elapsed = time.perf_counter() - t0
    data = body["data"]
    if data["succeeded"] != site.count:
        raise RuntimeError(f"batch: only {data['succeeded']} of {site.count} succeeded")
    return elapsed


def cpu_per_command(
    site: Site, sender: int | None, run: Callable[[], float], runs: int
) -> tuple[list[float], dict[str, float]]:
    """``runs`` runs of ``run`` (seconds each), and the CPU (microseconds per command) that the ``sender`` process,
    the broker and the simulated agents spent over them."""
    pids = {"sender": sender, "broker": site.broker.pid, "simulated agents": site.sim.pid if site.sim else None}
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    times = [run() for _ in range(runs)]
    return times, {name: (cpu_s(pid) - before[name]) / (runs * site.count) * 1e6 for name, pid in pids.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=1000)
    args = ap.parse_args(argv)
    with Site(args.agents) as site:
        base, base_cpu = cpu_per_command(site, os.getpid(), lambda: baseline(site), args.runs)
        site.start_lms()
        assert site.lms is not None
        through_lms(site, args.concurrency)  # warm-up (first-use imports, SQLite pages)
        lms, lms_cpu = cpu_per_command(site, site.lms.pid, lambda: through_lms(site, args.concurrency), args.runs)
    print(f"\none ping to each of {args.agents} simulated agents, all results back; {args.runs} runs each "
          f"(cpu count {os.cpu_count()})")  # fmt: skip
    print(f"{'path':48} {'median s':>9} {'best s':>8}")
    for name, xs in (("direct MQTT, one client, no LMS (baseline)", base),
                     (f"LMS POST /api/commands/batch (concurrency {args.concurrency})", lms)):  # fmt: skip
        print(f"{name:48} {statistics.median(xs):9.3f} {min(xs):8.3f}")
    print(f"ratio LMS/baseline (median): {statistics.median(lms) / statistics.median(base):.2f}")
    print("CPU per command, us: " + "; ".join(
        f"{path}: " + ", ".join(f"{name} {us:.0f}" for name, us in cpu.items())
        for path, cpu in (("baseline", base_cpu), ("through the LMS", lms_cpu))))  # fmt: skip
    write_results("fanout", [Figure(f"fan-out to {args.agents} agents through the LMS", statistics.median(lms), "s",
                                    statistics.median(base), "direct MQTT, one client", max_ratio=1.3),
                             Figure("fan-out: CPU per command, the LMS", lms_cpu["sender"], "us",
                                    base_cpu["sender"], "the baseline's client")]
                  + [Figure(f"fan-out: CPU per command, {name}, through the LMS", lms_cpu[name], "us",
                            base_cpu[name], f"{name}, baseline") for name in ("broker", "simulated agents")],
                  params=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
