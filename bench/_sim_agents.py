"""Simulated MQTT agents for the benches and the scale tests: many paho clients in one helper process, a site broker
and (on demand) a real LMS.

The simulated agents are paho clients in ONE helper process (``python bench/sim_agents.py simulate ...``), driven
by one selector loop (no thread per agent): each publishes a retained ``Status`` (with a Last Will), answers every
``Command`` with a ``Response``, and optionally sends heartbeats and metrics. A lost connection is retried as the
agent retries it (``shared.mqtt.MqttClient``): after ``shared.backoff.Backoff`` delays with equal jitter between the
agent's ``reconnect_min_s`` and ``reconnect_max_s`` (``shared.mqtt.MqttSettings``' defaults). Each connection's
online ``Status`` carries ``version="sim-<n>"``, ``n`` counting the agent's connections (from ``--first-connect``),
so the LMS's API tells a fresh announcement from a retained one replayed after a broker restart. The helper writes
its counters (connected, refused, ...) to a JSON file twice a second (:class:`SimCounters`).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.local import toml_writer
from infra.local.mosquitto import MosquittoProcess
from infra.local.ports import free_port
from infra.local.process import ChildProcess, wait_for
from shared import topics
from shared.backoff import Backoff
from shared.files import write_atomic
from shared.messages import Command, Heartbeat, Metrics, Presence, Response, Status, decode, encode
from shared.mqtt import MqttSettings
from shared.topics import AgentUp

ADMIN_TOKEN = "ctl_bench-admin-token-0123456789"
#: the agent's reconnect bounds (``[mqtt]`` defaults)
_DEFAULTS = MqttSettings(host="127.0.0.1", client_id="x")
RECONNECT_MIN_S, RECONNECT_MAX_S = _DEFAULTS.reconnect_min_s, _DEFAULTS.reconnect_max_s
#: a TCP connect to the broker that takes longer than this counts as timed out (and is retried with backoff)
CONNECT_TIMEOUT_S = 5.0
VERSION_PREFIX = "sim-"


def nodelay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def agent_ids(count: int) -> list[str]:
    return [f"sim-{i:05d}" for i in range(count)]


def connection_number(version: str | None) -> int:
    """The ``n`` of a simulated agent's ``sim-<n>`` version (0 for anything else)."""
    if not version or not version.startswith(VERSION_PREFIX):
        return 0
    tail = version[len(VERSION_PREFIX):]
    return int(tail) if tail.isdigit() else 0


@dataclass
class SimCounters:
    """What the helper has seen since it started (its counters file)."""

    connected: int = 0  # connected now (CONNACK accepted)
    connects: int = 0  # accepted CONNACKs in all
    refused: int = 0  # CONNACKs with a failure reason (a rate limit, a quota, bad credentials, ...)
    refused_reasons: dict[str, int] | None = None
    tcp_refused: int = 0  # TCP connection refused (the broker is not listening: down)
    tcp_timeouts: int = 0  # TCP connects that timed out (a full listen backlog)
    lost: int = 0  # connections lost
    answered: int = 0  # commands answered

    @classmethod
    def read(cls, path: Path) -> SimCounters:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError):
            return cls()


# ---------------------------------------------------------------- the simulator (helper process)


class SimFleet:
    """``count`` paho clients on one selector loop (the ``simulate`` helper)."""

    def __init__(
        self, host: str, port: int, passwords: dict[str, str], heartbeat_s: float, metrics_s: float, *,
        first_connect: int = 1, counters_file: Path | None = None,
    ) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.passwords = passwords
        self.heartbeat_s, self.metrics_s = heartbeat_s, metrics_s
        self.sel = selectors.DefaultSelector()
        self.clients: dict[str, mqtt.Client] = {}
        self.fds: dict[str, int] = {}  # agent id -> its registered socket's descriptor
        self.online: set[str] = set()
        self.connects: dict[str, int] = {}
        self.backoffs: dict[str, Backoff] = {}
        self.lost_now: list[str] = []
        self.first_connect = first_connect
        self.counters = SimCounters(refused_reasons={})
        self.counters_file = counters_file
        self.due: list[tuple[float, str, str]] = []  # (when, agent id, what): heartbeat, metrics, reconnect

    @property
    def connected(self) -> int:
        return len(self.online)

    def _make(self, agent_id: str) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=agent_id, clean_session=True)
        c.username_pw_set(agent_id, self.passwords[agent_id])
        lost = Status(state=Presence.OFFLINE, timestamp=time.time(), reason="lost")
        c.will_set(topics.agent_up(agent_id, AgentUp.STATUS), encode(lost), qos=1, retain=True)
        c.max_inflight_messages_set(100)
        c.connect_timeout = CONNECT_TIMEOUT_S

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            if rc.is_failure:
                self.counters.refused += 1
                reasons = self.counters.refused_reasons
                assert reasons is not None
                reasons[str(rc)] = reasons.get(str(rc), 0) + 1
                print(f"{agent_id}: refused {rc}", file=sys.stderr)
                return
            self.backoffs[agent_id].reset()
            n = self.connects[agent_id] = self.connects.get(agent_id, self.first_connect - 1) + 1
            client.subscribe(topics.agent_down(agent_id), qos=1)
            online = Status(state=Presence.ONLINE, timestamp=time.time(), reason="start", hostname=agent_id,
                            version=f"{VERSION_PREFIX}{n}")  # fmt: skip
            client.publish(topics.agent_up(agent_id, AgentUp.STATUS), encode(online), qos=1, retain=True)
            self.online.add(agent_id)
            self.counters.connects += 1

        def on_disconnect(_client: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
            self.online.discard(agent_id)
            self.lost_now.append(agent_id)

        def on_message(client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            cmd = decode(Command, bytes(msg.payload))
            reply = Response.ok(cmd.request_id, {"pong": True, "agent": agent_id})
            client.publish(topics.agent_up(agent_id, AgentUp.RESPONSE), encode(reply), qos=1)
            self.counters.answered += 1

        c.on_connect = on_connect
        c.on_disconnect = on_disconnect
        c.on_message = on_message
        c.on_socket_open = nodelay
        self.backoffs[agent_id] = Backoff(RECONNECT_MIN_S, RECONNECT_MAX_S)
        return c

    def _pump(self, c: mqtt.Client) -> None:
        if c.want_write():
            c.loop_write()

    def _connect(self, agent_id: str, *, first: bool) -> None:
        """One connection attempt (a blocking TCP connect: quick on loopback); a failure is retried with backoff."""
        c = self.clients[agent_id]
        try:
            if first:
                c.connect(self.host, self.port, keepalive=60)
            else:
                c.reconnect()
        except ConnectionRefusedError:
            self.counters.tcp_refused += 1
            self._retry_later(agent_id)
            return
        except TimeoutError:
            self.counters.tcp_timeouts += 1
            self._retry_later(agent_id)
            return
        except OSError:
            self.counters.tcp_refused += 1
            self._retry_later(agent_id)
            return
        sock = c.socket()
        assert sock is not None
        fd = sock.fileno()
        self.sel.register(fd, selectors.EVENT_READ, agent_id)
        self.fds[agent_id] = fd
        self._pump(c)

    def _retry_later(self, agent_id: str) -> None:
        heapq.heappush(self.due, (time.monotonic() + self.backoffs[agent_id].next(), agent_id, "reconnect"))

    def _forget_lost(self) -> None:
        while self.lost_now:
            agent_id = self.lost_now.pop()
            fd = self.fds.pop(agent_id, None)
            if fd is not None:
                self.sel.unregister(fd)  # the socket is closed already: selectors ignores the OSError
                self.counters.lost += 1
                self._retry_later(agent_id)

    def run(self, ids: list[str]) -> None:
        for agent_id in ids:
            self.clients[agent_id] = self._make(agent_id)
            self._connect(agent_id, first=True)
            self._poll(0)
        deadline = time.monotonic() + 60
        while self.connected < len(ids) and time.monotonic() < deadline:
            self._poll(0.05)
            self._run_due(random.Random(0))
        print(f"ready {self.connected}", flush=True)
        # Real agents sit on their own PCs and their timers drift apart; the simulated ones share the LMS's own
        # cores. So: every agent at its own (random) phase, sent when due from a heap (no 1,000-client scans, no
        # bursts every poll), paho's housekeeping once a second.
        rng = random.Random(1)
        now = time.monotonic()
        for agent_id in ids:
            if self.heartbeat_s:
                heapq.heappush(self.due, (now + rng.uniform(0, self.heartbeat_s), agent_id, "heartbeat"))
            if self.metrics_s:
                heapq.heappush(self.due, (now + rng.uniform(0, self.metrics_s), agent_id, "metrics"))
        last_misc = now
        while True:
            now = time.monotonic()
            self._run_due(rng)
            if now - last_misc > 0.5:
                last_misc = now
                for agent_id in list(self.fds):
                    c = self.clients[agent_id]
                    c.loop_misc()
                    self._pump(c)
                self._forget_lost()
                self._write_counters()
            wait = min(0.05, max(0.0, self.due[0][0] - time.monotonic())) if self.due else 0.05
            self._poll(wait)

    def _run_due(self, rng: random.Random) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            when, agent_id, kind = heapq.heappop(self.due)
            if kind == "reconnect":
                self._connect(agent_id, first=False)
                continue
            period = self.heartbeat_s if kind == "heartbeat" else self.metrics_s
            heapq.heappush(self.due, (when + period, agent_id, kind))
            if agent_id in self.online:  # heartbeat and metrics are QoS 0, skipped while disconnected
                self._send(agent_id, kind, rng)

    def _write_counters(self) -> None:
        if self.counters_file is not None:
            self.counters.connected = self.connected
            write_atomic(self.counters_file, json.dumps(asdict(self.counters)))

    def _send(self, agent_id: str, kind: str, rng: random.Random) -> None:
        c = self.clients[agent_id]
        if kind == "heartbeat":
            c.publish(topics.agent_up(agent_id, AgentUp.HEARTBEAT), encode(Heartbeat(timestamp=time.time())), qos=0)
        else:
            sample = Metrics(
                timestamp=time.time(), cpu_percent=rng.uniform(0, 100), mem_total=8 << 30,
                mem_used=2 << 30, mem_percent=25.0, load=(0.1, 0.2, 0.3), uptime_s=1000.0, process_count=200,
            )  # fmt: skip
            c.publish(topics.agent_up(agent_id, AgentUp.METRICS), encode(sample), qos=0)
        self._pump(c)  # paho writes at once outside its callbacks; this only finishes a partial write

    def _poll(self, timeout: float) -> None:
        for key, _mask in self.sel.select(timeout):
            c = self.clients[key.data]
            c.loop_read()
            if key.data in self.fds:
                self._pump(c)
        self._forget_lost()


def simulate(args: argparse.Namespace) -> int:
    passwords: dict[str, str] = json.loads(Path(args.passwords).read_text())
    ids = agent_ids(args.count)
    counters = Path(args.counters) if args.counters else None
    SimFleet(args.host, args.port, passwords, args.heartbeat_s, args.metrics_s, first_connect=args.first_connect,
             counters_file=counters).run(ids)  # fmt: skip
    return 0


# ---------------------------------------------------------------- the site (bench process)


class Site:
    """A broker with ``count`` agent users, the simulator helper, and (on demand) an LMS.

    ``simulate=False``: the simulator is not started on enter (:meth:`start_simulator` later)."""

    def __init__(
        self, count: int, *, heartbeat_s: float = 0.0, metrics_s: float = 0.0, extra_users: Sequence[str] = (),
        simulate: bool = True,
    ) -> None:  # fmt: skip
        self.count = count
        self.work = Path(tempfile.mkdtemp(prefix="ct-bench-site-"))
        self.work.chmod(0o755)
        self.ids = agent_ids(count)
        self.pw = {u: secrets.token_hex(8) for u in ["lms", "bench-req", *extra_users, *self.ids]}
        self.broker = MosquittoProcess(self.work / "broker", users=self.pw, max_queued_messages=10_000)
        self.heartbeat_s, self.metrics_s = heartbeat_s, metrics_s
        self.simulate = simulate
        self.sim: subprocess.Popen[str] | None = None
        self.counters_file = self.work / "sim-counters.json"
        self.lms: ChildProcess | None = None
        self.lms_port = 0

    def __enter__(self) -> Site:
        self.broker.start()
        if self.simulate:
            self.start_simulator()
        return self

    def start_simulator(self, first_connect: int = 1, *, wait: bool = True) -> None:
        """Start the helper; with ``wait``, return once every simulated agent has connected."""
        pw_file = self.work / "passwords.json"
        pw_file.write_text(json.dumps(self.pw))
        self.counters_file.unlink(missing_ok=True)
        self.sim = subprocess.Popen(
            [sys.executable, __file__, "simulate", "--host", self.broker.host, "--port", str(self.broker.port),
             "--passwords", str(pw_file), "--count", str(self.count), "--heartbeat-s", str(self.heartbeat_s),
             "--metrics-s", str(self.metrics_s), "--first-connect", str(first_connect),
             "--counters", str(self.counters_file)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        if not wait:
            return
        assert self.sim.stdout is not None
        line = self.sim.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"the simulator did not start: {line!r}")
        if int(line.split()[1]) != self.count:
            raise RuntimeError(f"only {line.split()[1]} of {self.count} simulated agents connected")

    def stop_simulator(self) -> None:
        if self.sim is not None:
            self.sim.terminate()
            self.sim.wait(10)
            self.sim = None

    def sim_counters(self) -> SimCounters:
        return SimCounters.read(self.counters_file)

    def __exit__(self, *_exc: object) -> None:
        if self.lms is not None:
            self.lms.stop()
        self.stop_simulator()
        self.broker.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def start_lms(self, *, wait_online: bool = True, **extra: Any) -> None:
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
        if not wait_online:
            wait_for("the LMS's API", self.answers, 60, every_s=0.1, watch=[self.lms])
            return

        def all_online() -> bool:
            return bool(self.api("GET", "/api/health")["data"]["agents"]["online"] >= self.count)

        wait_for("every simulated agent online at the LMS", all_online, 120, every_s=0.5, watch=[self.lms])

    def answers(self) -> bool:
        try:
            self.api("GET", "/api/health", timeout=2)
        except OSError:
            return False
        return True

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.lms_port}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def announced(self, at_least: int) -> int:
        """How many simulated agents the LMS shows online with a ``Status`` of their ``at_least``-th connection or a
        later one (not a retained one of an earlier connection)."""
        clients = self.api("GET", "/api/clients/online")["data"]["clients"]
        return sum(1 for c in clients if connection_number(c.get("version")) >= at_least)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    sim = sub.add_parser("simulate", help="(internal) run the simulated agents")
    sim.add_argument("--host", required=True)
    sim.add_argument("--port", type=int, required=True)
    sim.add_argument("--passwords", required=True)
    sim.add_argument("--count", type=int, required=True)
    sim.add_argument("--heartbeat-s", type=float, default=0.0)
    sim.add_argument("--metrics-s", type=float, default=0.0)
    sim.add_argument("--first-connect", type=int, default=1)
    sim.add_argument("--counters", default="")
    return simulate(ap.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
