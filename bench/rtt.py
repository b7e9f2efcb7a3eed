"""Command round trip on site, beside its baseline, in one run.

1. baseline: a raw paho QoS 1 request/response echo through the site broker (TCP_NODELAY on both ends);
2. the same echo through the project's MQTT wrapper (``shared.mqtt``) on both ends;
3. the product path: HTTP ``POST /api/clients/{id}/command`` (``ping``) on a real LMS process -> site
   broker -> a real agent process -> back, over one keep-alive HTTP connection.

Prints median and p99 of each and the ratios to the baseline. Usage:
``python bench/rtt.py [--n 2000] [--idle-agents 100]`` (idle agents: extra broker connections that
heartbeat like real ones, to measure with a populated site).
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.local import toml_writer
from infra.local.mosquitto import MosquittoProcess, free_port
from infra.local.process import ChildProcess, wait_for
from shared import topics
from shared.messages import Heartbeat, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def raw_client(broker: MosquittoProcess, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{secrets.token_hex(3)}")
    c.username_pw_set(user, password)
    c.on_socket_open = lambda _c, _u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def bench_raw(broker: MosquittoProcess, pw: dict[str, str], n: int) -> list[float]:
    echo = raw_client(broker, "bench-echo", pw["bench-echo"])
    echo.on_message = lambda c, _u, m: c.publish("bench/resp", m.payload, qos=1)
    echo.subscribe("bench/req", qos=1)
    req = raw_client(broker, "bench-req", pw["bench-req"])
    got = threading.Event()
    req.on_message = lambda _c, _u, _m: got.set()
    req.subscribe("bench/resp", qos=1)
    time.sleep(0.3)
    out = []
    for i in range(n + 50):
        got.clear()
        t0 = time.perf_counter()
        req.publish("bench/req", b'{"i":%d}' % i, qos=1)
        if not got.wait(5):
            raise RuntimeError("raw echo lost a message")
        if i >= 50:
            out.append((time.perf_counter() - t0) * 1000)
    for c in (echo, req):
        c.loop_stop()
        c.disconnect()
    return out


def bench_wrapper(broker: MosquittoProcess, pw: dict[str, str], n: int) -> list[float]:
    def settings(user: str) -> MqttSettings:
        return MqttSettings(host=broker.host, port=broker.port, client_id=f"{user}-w", username=user,
                            password=pw[user])  # type: ignore[arg-type]

    echo = MqttClient(settings("bench-echo"))
    echo.subscribe("bench/wreq", lambda m: echo.publish("bench/wresp", m.payload, qos=1))
    req = MqttClient(settings("bench-req"))
    got = threading.Event()

    def on_resp(_m: IncomingMessage) -> None:
        got.set()

    req.subscribe("bench/wresp", on_resp)
    echo.start()
    req.start()
    time.sleep(0.3)
    out = []
    for i in range(n + 50):
        got.clear()
        t0 = time.perf_counter()
        req.publish("bench/wreq", b'{"i":%d}' % i, qos=1)
        if not got.wait(5):
            raise RuntimeError("wrapper echo lost a message")
        if i >= 50:
            out.append((time.perf_counter() - t0) * 1000)
    echo.stop()
    req.stop()
    return out


def start_idle_agents(broker: MosquittoProcess, pw: dict[str, str], count: int) -> list[mqtt.Client]:
    clients = []
    for i in range(count):
        user = f"idle-{i:04d}"
        c = raw_client(broker, user, pw[user])
        clients.append(c)
    def beat() -> None:
        while clients:
            for i, c in enumerate(list(clients)):
                c.publish(topics.agent_up(f"idle-{i:04d}", topics.AgentUp.HEARTBEAT),
                          encode(Heartbeat(timestamp=time.time())), qos=0)
            time.sleep(5)
    threading.Thread(target=beat, daemon=True).start()
    return clients


def bench_lms(work: Path, broker: MosquittoProcess, pw: dict[str, str], n: int) -> list[float]:
    lms_port = free_port()
    (work / "lms").mkdir()
    (work / "lms" / "pw").write_text(pw["lms"])
    cfg = {
        "tenant": "bench", "site_id": "bench-site", "db_path": str(work / "lms" / "lms.db"),
        "http_port": lms_port, "log_level": "WARNING",
        "site_broker": {"host": broker.host, "port": broker.port, "username": "lms", "client_id": "lms",
                        "password_file": str(work / "lms" / "pw")},
    }  # fmt: skip
    (work / "lms" / "lms.toml").write_text(toml_writer.dumps(cfg))
    (work / "agent").mkdir()
    (work / "agent" / "pw").write_text(pw["agent-1"])
    acfg = {
        "agent_id": "agent-1", "state_dir": str(work / "agent" / "state"),
        "mqtt": {"host": broker.host, "port": broker.port, "password_file": str(work / "agent" / "pw")},
        "log": {"level": "WARNING"},
    }  # fmt: skip
    (work / "agent" / "agent.toml").write_text(toml_writer.dumps(acfg))
    token = "ctl_bench-admin-token-0123456789"
    auth = {"Authorization": f"Bearer {token}"}
    lms = ChildProcess.python("lms", "edge.lms", ["--config", str(work / "lms" / "lms.toml")], work / "lms.log",
                              env={"CLASSTOP_LMS_ADMIN_TOKEN": token})
    agent = ChildProcess.python("agent", "edge.agent", ["--config", str(work / "agent" / "agent.toml")],
                                work / "agent.log")
    lms.start()
    agent.start()
    try:
        def online() -> bool:
            probe = http.client.HTTPConnection("127.0.0.1", lms_port, timeout=5)
            try:
                probe.request("GET", "/api/clients/online", headers=auth)
                return "agent-1" in probe.getresponse().read().decode()
            finally:
                probe.close()

        wait_for("agent online at the LMS", online, 30, every_s=0.2, watch=[lms, agent])
        conn = http.client.HTTPConnection("127.0.0.1", lms_port, timeout=10)
        body = json.dumps({"command": "ping"})
        out = []
        for i in range(n + 50):
            t0 = time.perf_counter()
            conn.request("POST", "/api/clients/agent-1/command", body, {"Content-Type": "application/json", **auth})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"LMS answered {resp.status}: {data[:200]!r}")
            if i >= 50:
                out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        agent.stop()
        lms.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--idle-agents", type=int, default=100)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ct-bench-rtt-"))
    work.chmod(0o755)
    users = ["lms", "agent-1", "bench-echo", "bench-req"] + [f"idle-{i:04d}" for i in range(args.idle_agents)]
    pw = {u: secrets.token_hex(8) for u in users}
    broker = MosquittoProcess(work / "broker", users=pw)
    broker.start()
    idle: list[mqtt.Client] = []
    try:
        idle = start_idle_agents(broker, pw, args.idle_agents)
        results = {
            "raw paho QoS1 echo (baseline)": bench_raw(broker, pw, args.n),
            "shared.mqtt wrapper QoS1 echo": bench_wrapper(broker, pw, args.n),
            "LMS API -> agent -> LMS (ping)": bench_lms(work, broker, pw, args.n),
        }
    finally:
        for c in idle:
            c.loop_stop()
            c.disconnect()
        idle.clear()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(results["raw paho QoS1 echo (baseline)"])
    base99 = pct(results["raw paho QoS1 echo (baseline)"], 99)
    print(f"\nround trip on loopback, n={args.n} each, {args.idle_agents} idle agents connected to the broker")
    print(f"{'path':36} {'p50 ms':>8} {'p99 ms':>8} {'p50/base':>9} {'p99/base':>9}")
    for name, xs in results.items():
        p50, p99 = statistics.median(xs), pct(xs, 99)
        print(f"{name:36} {p50:8.3f} {p99:8.3f} {p50 / base:9.2f} {p99 / base99:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
