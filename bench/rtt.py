"""Command round trip on site, beside its baseline, in one run, with a populated site.

The site: one broker and ``--agents`` simulated agents (``bench/_sim_agents.py``'s simulator, in its own
process) that heartbeat every 5 s and send metrics every 15 s, as real ones do. Then:

1. baseline: a raw paho QoS 1 request/response echo through the site broker (TCP_NODELAY on both ends);
2. the same echo through the project's MQTT wrapper (``shared.mqtt``) on both ends, its handlers on the dispatcher
   thread (the default), then inline on the network thread (as the product's hot path runs them);
3. the product path: HTTP ``POST /api/clients/{id}/command`` (``ping``) on a real LMS process (which knows
   every simulated agent) -> site broker -> a real agent process -> back, over one keep-alive HTTP
   connection;
4. for where the time goes: the same real agent asked directly (a raw paho client publishes the ``Command`` and
   waits for the ``Response``, no LMS): what the agent process itself adds to the echo.

Prints median and p99 of each and the ratios to the baseline, and the CPU each process spent per round trip through
the LMS (Linux). Usage:
``python bench/rtt.py [--n 2000] [--agents 1000]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from bench._sim_agents import ADMIN_TOKEN, Site, nodelay
from infra.local import toml_writer
from infra.local.mosquitto import MosquittoProcess
from infra.local.process import ChildProcess, wait_for
from shared import topics
from shared.messages import Command, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings
from shared.mqtt.settings import TlsSettings
from shared.topics import AgentUp


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def raw_client(broker: MosquittoProcess, user: str, password: str, tls: TlsSettings | None = None) -> mqtt.Client:
    """A raw paho client; with ``tls`` (the twin's IoT Core stand-in) its certificate is the identity."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{secrets.token_hex(3)}")
    if tls is not None:
        c.tls_set(ca_certs=str(tls.ca_file), certfile=str(tls.cert_file), keyfile=str(tls.key_file))
    else:
        c.username_pw_set(user, password)
    c.on_socket_open = nodelay
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def round_trips(send: Callable[[int], object], got: threading.Event, n: int, what: str) -> list[float]:
    """``n`` timed round trips in ms (after 50 untimed ones): ``send(i)``, then wait until ``got`` is set."""
    out = []
    for i in range(n + 50):
        got.clear()
        t0 = time.perf_counter()
        send(i)
        if not got.wait(5):
            raise RuntimeError(f"{what} lost a message")
        if i >= 50:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_raw(broker: MosquittoProcess, pw: dict[str, str], n: int,
              tls: Mapping[str, TlsSettings | None] | None = None) -> list[float]:
    tls = tls or {}
    echo = raw_client(broker, "bench-echo", pw["bench-echo"], tls.get("bench-echo"))
    def echo_back(c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        c.publish("bench/resp", m.payload, qos=1)

    echo.on_message = echo_back
    echo.subscribe("bench/req", qos=1)
    req = raw_client(broker, "bench-req", pw["bench-req"], tls.get("bench-req"))
    got = threading.Event()
    req.on_message = lambda _c, _u, _m: got.set()
    req.subscribe("bench/resp", qos=1)
    time.sleep(0.3)
    out = round_trips(lambda i: req.publish("bench/req", b'{"i":%d}' % i, qos=1), got, n, "raw echo")
    for c in (echo, req):
        c.loop_stop()
        c.disconnect()
    return out


def bench_wrapper(broker: MosquittoProcess, pw: dict[str, str], n: int, *, inline: bool = False) -> list[float]:
    """The echo through ``shared.mqtt`` on both ends: handlers on the dispatcher thread (the default: a queue hand-off
    at each end, which is most of the difference to raw paho, whose callbacks run on the network thread), or
    ``inline`` on the network thread as the LMS's response matching and the agent's quick commands run."""

    def settings(user: str) -> MqttSettings:
        return MqttSettings(host=broker.host, port=broker.port, client_id=f"{user}-w", username=user,
                            password=pw[user])

    echo = MqttClient(settings("bench-echo"))
    def echo_back(m: IncomingMessage) -> None:
        echo.publish("bench/wresp", m.payload, qos=1)

    echo.subscribe("bench/wreq", echo_back, inline=inline)
    req = MqttClient(settings("bench-req"))
    got = threading.Event()

    def on_resp(_m: IncomingMessage) -> None:
        got.set()

    req.subscribe("bench/wresp", on_resp, inline=inline)
    echo.start()
    req.start()
    time.sleep(0.3)
    out = round_trips(lambda i: req.publish("bench/wreq", b'{"i":%d}' % i, qos=1), got, n, "wrapper echo")
    echo.stop()
    req.stop()
    return out


def lms_round_trips(port: int, n: int, warmup: int = 50) -> list[float]:
    """``n`` timed ``ping`` commands (after ``warmup`` untimed ones) through the LMS's API on ``port`` to
    ``agent-1``, over one keep-alive connection: milliseconds each."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"command": "ping"})
    out = []
    try:
        for i in range(n + warmup):
            t0 = time.perf_counter()
            conn.request("POST", "/api/clients/agent-1/command", body, auth)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"LMS answered {resp.status}: {data[:200]!r}")
            if i >= warmup:
                out.append((time.perf_counter() - t0) * 1000)
    finally:
        conn.close()
    return out


@contextlib.contextmanager
def real_agent(site: Site) -> Iterator[ChildProcess]:
    """The LMS of ``site`` started, and one real agent process (``agent-1``) online at it; stopped on the way out."""
    site.start_lms()  # waits until the LMS shows every simulated agent online
    work = site.work / "agent"
    work.mkdir()
    (work / "pw").write_text(site.pw["agent-1"])
    acfg = {
        "agent_id": "agent-1", "state_dir": str(work / "state"),
        "mqtt": {"host": site.broker.host, "port": site.broker.port, "password_file": str(work / "pw")},
        "log": {"level": "WARNING"},
    }  # fmt: skip
    (work / "agent.toml").write_text(toml_writer.dumps(acfg))
    agent = ChildProcess.python("agent", "edge.agent", ["--config", str(work / "agent.toml")], work / "agent.log")
    agent.start()
    try:
        def online() -> bool:
            return "agent-1" in json.dumps(site.api("GET", "/api/clients/agent-1"))

        wait_for("the real agent online at the LMS", online, 30, every_s=0.2, watch=[agent])
        yield agent
    finally:
        agent.stop()


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_lms(site: Site, n: int, cpu_us: dict[str, float]) -> tuple[list[float], list[float]]:
    """The round trips through the LMS, and those straight to the same real agent (no LMS). ``cpu_us`` gets each
    process's CPU per round trip through the LMS (on a shared machine, steadier than the wall clock)."""
    with real_agent(site) as agent:
        assert site.lms is not None
        pids = {"LMS": site.lms.pid, "agent": agent.pid, "broker": site.broker.pid}
        before = {name: cpu_s(pid) for name, pid in pids.items()}
        through = lms_round_trips(site.lms_port, n)
        cpu_us.update({name: (cpu_s(pid) - before[name]) / (n + 50) * 1e6 for name, pid in pids.items()})
        direct = raw_client(site.broker, "bench-req", site.pw["bench-req"])
        got = threading.Event()
        direct.on_message = lambda _c, _u, _m: got.set()
        direct.subscribe(topics.agent_up("agent-1", AgentUp.RESPONSE), qos=1)
        time.sleep(0.3)

        def ping(i: int) -> object:
            command = encode(Command(request_id=f"d{i}", command="ping"))
            return direct.publish(topics.agent_down("agent-1"), command, qos=1)

        alone = round_trips(ping, got, n, "agent echo")
        direct.loop_stop()
        direct.disconnect()
    return through, alone


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--agents", type=int, default=1000, help="simulated agents connected (heartbeat 5 s, metrics 15 s)")
    args = ap.parse_args()
    with Site(args.agents, heartbeat_s=5.0, metrics_s=15.0, extra_users=["agent-1", "bench-echo"]) as site:
        results = {
            "raw paho QoS1 echo (baseline)": bench_raw(site.broker, site.pw, args.n),
            "shared.mqtt wrapper QoS1 echo": bench_wrapper(site.broker, site.pw, args.n),
            "shared.mqtt wrapper echo, inline": bench_wrapper(site.broker, site.pw, args.n, inline=True),
        }
        cpu_us: dict[str, float] = {}
        through, alone = bench_lms(site, args.n, cpu_us)
        results["LMS API -> agent -> LMS (ping)"] = through
        results["real agent alone, no LMS (ping)"] = alone
    base = statistics.median(results["raw paho QoS1 echo (baseline)"])
    base99 = pct(results["raw paho QoS1 echo (baseline)"], 99)
    print(f"\nround trip on loopback, n={args.n} each, {args.agents} simulated agents connected "
          f"(cpu count {os.cpu_count()})")  # fmt: skip
    print(f"{'path':36} {'p50 ms':>8} {'p99 ms':>8} {'p50/base':>9} {'p99/base':>9}")
    for name, xs in results.items():
        p50, p99 = statistics.median(xs), pct(xs, 99)
        print(f"{name:36} {p50:8.3f} {p99:8.3f} {p50 / base:9.2f} {p99 / base99:9.2f}")
    print("CPU per round trip through the LMS: " + ", ".join(f"{k} {v:.0f} us" for k, v in cpu_us.items()))
    write_results("rtt", [Figure(f"{name}: {q}", stat(xs), "ms", stat(echo), "raw paho QoS1 echo",
                                 max_ratio=goal if name.startswith("LMS") else None,
                                 x=args.agents, x_name="agents", series="rtt", samples=xs if q == "p50" else None)
                          for name, xs in results.items() if "(baseline)" not in name
                          for q, stat, echo, goal in (
                              ("p50", statistics.median, results["raw paho QoS1 echo (baseline)"], 2.0),
                              ("p99", lambda v: pct(v, 99), results["raw paho QoS1 echo (baseline)"], 3.0))]
                  + [Figure("raw paho QoS1 echo: p50", base, "ms", x=args.agents, x_name="agents", series="rtt",
                            samples=results["raw paho QoS1 echo (baseline)"])]
                  + [Figure(f"CPU per round trip through the LMS: {name}", us, "us", x=args.agents, x_name="agents")
                     for name, us in cpu_us.items()], params=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
