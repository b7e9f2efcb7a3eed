"""One batch command to 1,000 simulated agents through the LMS, beside its baseline, in one run.

1. baseline: the same 1,000 request/response exchanges done directly over MQTT from one client (no LMS):
   publish a ``Command`` to each agent's down topic, wait for every ``Response``;
2. the product path: ``POST /api/commands/batch`` ``{"command": "ping", "target": {"all": true}}`` on a real
   LMS process, all results back in the HTTP reply.

The simulated agents are paho clients in ONE helper process (this file with ``simulate``), driven by one
selector loop (no thread per agent): each publishes a retained ``Status`` (with a Last Will), answers every
``Command`` with a ``Response``, and optionally sends heartbeats and metrics (``bench/lms_scale.py``).

Usage: ``python bench/fanout.py [--agents 1000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import secrets
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.local import toml_writer
from infra.local.mosquitto import MosquittoProcess, free_port
from infra.local.process import ChildProcess, wait_for
from shared import topics
from shared.messages import Command, Heartbeat, Metrics, Presence, Response, Status, decode, encode
from shared.topics import AgentUp

ADMIN_TOKEN = "ctl_bench-admin-token-0123456789"


def _nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def agent_ids(count: int) -> list[str]:
    return [f"sim-{i:05d}" for i in range(count)]


# ---------------------------------------------------------------- the simulator (helper process)


class SimFleet:
    """``count`` paho clients on one selector loop (the ``simulate`` helper)."""

    def __init__(self, host: str, port: int, passwords: dict[str, str], heartbeat_s: float, metrics_s: float) -> None:
        self.host, self.port = host, port
        self.passwords = passwords
        self.heartbeat_s, self.metrics_s = heartbeat_s, metrics_s
        self.sel = selectors.DefaultSelector()
        self.clients: dict[str, mqtt.Client] = {}
        self.connected = 0
        self.answered = 0

    def _make(self, agent_id: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=agent_id, clean_session=True)
        c.username_pw_set(agent_id, self.passwords[agent_id])
        lost = Status(state=Presence.OFFLINE, timestamp=time.time(), reason="lost")
        c.will_set(topics.agent_up(agent_id, AgentUp.STATUS), encode(lost), qos=1, retain=True)
        c.max_inflight_messages_set(100)

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            if rc.is_failure:
                print(f"{agent_id}: refused {rc}", file=sys.stderr)
                return
            client.subscribe(topics.agent_down(agent_id), qos=1)
            online = Status(state=Presence.ONLINE, timestamp=time.time(), reason="start", hostname=agent_id)
            client.publish(topics.agent_up(agent_id, AgentUp.STATUS), encode(online), qos=1, retain=True)
            self.connected += 1

        def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            cmd = decode(Command, bytes(msg.payload))
            reply = Response.ok(cmd.request_id, {"pong": True, "agent": agent_id})
            client.publish(topics.agent_up(agent_id, AgentUp.RESPONSE), encode(reply), qos=1)
            self.answered += 1

        c.on_connect = on_connect
        c.on_message = on_message
        c.on_socket_open = _nodelay
        return c

    def _pump(self, c: mqtt.Client) -> None:
        if c.want_write():
            c.loop_write()

    def run(self, ids: list[str]) -> None:
        for agent_id in ids:
            c = self._make(agent_id)
            c.connect(self.host, self.port, keepalive=60)
            sock = c.socket()
            assert sock is not None
            self.sel.register(sock, selectors.EVENT_READ, c)
            self._pump(c)
            self.clients[agent_id] = c
            self._poll(0)
        deadline = time.monotonic() + 60
        while self.connected < len(ids) and time.monotonic() < deadline:
            self._poll(0.05)
        print(f"ready {self.connected}", flush=True)
        # Real agents sit on their own PCs and their timers drift apart; the simulated ones share the LMS's own
        # cores. So: every agent at its own (random) phase, sent when due from a heap (no 1,000-client scans, no
        # bursts every poll), paho's housekeeping once a second.
        rng = random.Random(1)
        now = time.monotonic()
        due: list[tuple[float, str, str]] = []
        for agent_id in ids:
            if self.heartbeat_s:
                due.append((now + rng.uniform(0, self.heartbeat_s), agent_id, "heartbeat"))
            if self.metrics_s:
                due.append((now + rng.uniform(0, self.metrics_s), agent_id, "metrics"))
        heapq.heapify(due)
        last_misc = now
        while True:
            now = time.monotonic()
            while due and due[0][0] <= now:
                when, agent_id, kind = heapq.heappop(due)
                period = self.heartbeat_s if kind == "heartbeat" else self.metrics_s
                heapq.heappush(due, (when + period, agent_id, kind))
                self._send(agent_id, kind, rng)
            if now - last_misc > 1.0:
                last_misc = now
                for c in self.clients.values():
                    c.loop_misc()
                    self._pump(c)
            wait = min(0.05, max(0.0, due[0][0] - time.monotonic())) if due else 0.05
            self._poll(wait)

    def _send(self, agent_id: str, kind: str, rng: random.Random) -> None:
        c = self.clients[agent_id]
        if kind == "heartbeat":
            c.publish(topics.agent_up(agent_id, AgentUp.HEARTBEAT), encode(Heartbeat(timestamp=time.time())), qos=1)
        else:
            sample = Metrics(
                timestamp=time.time(), cpu_percent=rng.uniform(0, 100), mem_total=8 << 30,
                mem_used=2 << 30, mem_percent=25.0, load=(0.1, 0.2, 0.3), uptime_s=1000.0, process_count=200,
            )  # fmt: skip
            c.publish(topics.agent_up(agent_id, AgentUp.METRICS), encode(sample), qos=1)
        self._pump(c)  # paho writes at once outside its callbacks; this only finishes a partial write

    def _poll(self, timeout: float) -> None:
        for key, _mask in self.sel.select(timeout):
            c = key.data
            c.loop_read()
            self._pump(c)


def simulate(args: argparse.Namespace) -> int:
    passwords: dict[str, str] = json.loads(Path(args.passwords).read_text())
    ids = agent_ids(args.count)
    SimFleet(args.host, args.port, passwords, args.heartbeat_s, args.metrics_s).run(ids)
    return 0


# ---------------------------------------------------------------- the bench (main process)


class Site:
    """A broker with ``count`` agent users, the simulator helper, and (on demand) an LMS."""

    def __init__(
        self, count: int, *, heartbeat_s: float = 0.0, metrics_s: float = 0.0, extra_users: Sequence[str] = ()
    ) -> None:
        self.count = count
        self.work = Path(tempfile.mkdtemp(prefix="ct-bench-fanout-"))
        self.work.chmod(0o755)
        self.ids = agent_ids(count)
        self.pw = {u: secrets.token_hex(8) for u in ["lms", "bench-req", *extra_users, *self.ids]}
        self.broker = MosquittoProcess(self.work / "broker", users=self.pw, max_queued_messages=10_000)
        self.heartbeat_s, self.metrics_s = heartbeat_s, metrics_s
        self.sim: subprocess.Popen[str] | None = None
        self.lms: ChildProcess | None = None
        self.lms_port = 0

    def __enter__(self) -> Site:
        self.broker.start()
        pw_file = self.work / "passwords.json"
        pw_file.write_text(json.dumps(self.pw))
        self.sim = subprocess.Popen(
            [sys.executable, __file__, "simulate", "--host", self.broker.host, "--port", str(self.broker.port),
             "--passwords", str(pw_file), "--count", str(self.count), "--heartbeat-s", str(self.heartbeat_s),
             "--metrics-s", str(self.metrics_s)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.sim.stdout is not None
        line = self.sim.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"the simulator did not start: {line!r}")
        if int(line.split()[1]) != self.count:
            raise RuntimeError(f"only {line.split()[1]} of {self.count} simulated agents connected")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.lms is not None:
            self.lms.stop()
        if self.sim is not None:
            self.sim.terminate()
            self.sim.wait(10)
        self.broker.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def start_lms(self, **extra: Any) -> None:
        self.lms_port = free_port()
        d = self.work / "lms"
        d.mkdir()
        (d / "pw").write_text(self.pw["lms"])
        cfg = {
            "tenant": "bench", "site_id": "bench-site", "db_path": str(d / "lms.db"), "http_port": self.lms_port,
            "http_tls": False,  # plain HTTP on loopback (allowed there): the benches measure the LMS, not TLS
            "log_level": "WARNING", "presence_timeout_s": 60,
            "site_broker": {"host": self.broker.host, "port": self.broker.port, "username": "lms", "client_id": "lms",
                            "password_file": str(d / "pw")},
            **extra,
        }  # fmt: skip
        (d / "lms.toml").write_text(toml_writer.dumps(cfg))
        self.lms = ChildProcess.python(
            "lms", "edge.lms", ["--config", str(d / "lms.toml")], self.work / "lms.log",
            env={"CLASSTOP_LMS_ADMIN_TOKEN": ADMIN_TOKEN},
        ).start()

        def all_online() -> bool:
            return bool(self.api("GET", "/api/health")["data"]["agents"]["online"] >= self.count)

        wait_for("every simulated agent online at the LMS", all_online, 120, every_s=0.5, watch=[self.lms])

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.lms_port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())


def baseline(site: Site) -> float:
    """Seconds for one client to send a ``ping`` to every agent and get every ``Response`` back."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-req-{secrets.token_hex(3)}")
    c.username_pw_set("bench-req", site.pw["bench-req"])
    c.max_inflight_messages_set(100)
    c.on_socket_open = _nodelay
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode")
    sim = sub.add_parser("simulate", help="(internal) run the simulated agents")
    sim.add_argument("--host", required=True)
    sim.add_argument("--port", type=int, required=True)
    sim.add_argument("--passwords", required=True)
    sim.add_argument("--count", type=int, required=True)
    sim.add_argument("--heartbeat-s", type=float, default=0.0)
    sim.add_argument("--metrics-s", type=float, default=0.0)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=1000)
    args = ap.parse_args(argv)
    if args.mode == "simulate":
        return simulate(args)
    with Site(args.agents) as site:
        base = [baseline(site) for _ in range(args.runs)]
        site.start_lms()
        through_lms(site, args.concurrency)  # warm-up (first-use imports, SQLite pages)
        lms = [through_lms(site, args.concurrency) for _ in range(args.runs)]
    print(f"\none ping to each of {args.agents} simulated agents, all results back; {args.runs} runs each "
          f"(cpu count {os.cpu_count()})")  # fmt: skip
    print(f"{'path':48} {'median s':>9} {'best s':>8}")
    for name, xs in (("direct MQTT, one client, no LMS (baseline)", base),
                     (f"LMS POST /api/commands/batch (concurrency {args.concurrency})", lms)):  # fmt: skip
        print(f"{name:48} {statistics.median(xs):9.3f} {min(xs):8.3f}")
    print(f"ratio LMS/baseline (median): {statistics.median(lms) / statistics.median(base):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
