"""Alert evaluation on the LMS: its CPU cost with 2,000 agents and 20 rules beside the LMS's idle cost at the same
load, the evaluator's cost per metrics sample beside decoding that sample, and alert latency from condition to
webhook (p50), all in one run.

1. **CPU fraction.** One site broker and 2,000 simulated agents (``bench/fanout.py``'s simulator: heartbeat 5 s,
   metrics 15 s, random CPU, staggered). The LMS is measured with ``[alerts] enabled = false`` (the baseline), then
   a fresh LMS with alerting on and 20 metric rules (CPU, memory, load, process count: some fire and resolve all
   the time, since the simulated CPU is random). CPU in cores (CPU seconds / wall seconds).
2. **Per sample, in process.** :meth:`AlertEvaluator.on_metrics` with the same 20 rules over 2,000 agents, beside
   ``decode(Metrics, payload)`` of the same sample (what the LMS does for every sample anyway): medians.
3. **Latency.** During (1), one more agent publishes a sample over the threshold of a rule scoped to it
   (``for_s`` 0, severity critical; the channel sends critical only, so the simulator's churn does not queue
   ahead of it), then one under its clear value, ``--rounds`` times; a local webhook receiver (plain HTTP on
   loopback: ``local_dev_http_webhook``) checks each signature and stamps its arrival. Latency = arrival of the
   firing delivery - publish time; p50 and max.

Usage: ``python bench/alerts.py [--agents 2000] [--duration 30] [--rounds 20]``.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from bench._sim_agents import Site
from bench.lms_scale import measure
from edge.lms.alerts import ActiveRule, AlertEvaluator, SiteLabels
from edge.lms.config.alert_settings import WEBHOOK_SECRET_ENV
from edge.lms.store import Store
from infra.local.process import wait_for
from shared import topics
from shared.messages import Metrics, Presence, Status, decode, encode
from shared.messages.alert import AlertRecord, AlertRule
from shared.topics import AgentUp
from shared.webhook_signature import verify

SECRET = "bench-webhook-secret-0123456789"
LATENCY_AGENT = "bench-latency"


def twenty_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for i in range(8):  # CPU at 8 thresholds: the simulator's random CPU crosses them all the time
        t = 60 + i * 5
        rules.append({"rule_id": f"b-cpu-{i}", "name": f"cpu {t}",
                      "condition": {"kind": "metric_threshold", "metric": "cpu_percent", "threshold": t,
                                    "clear": t - 10, "for_s": 30 * (i % 3)}})  # fmt: skip
    for i in range(4):
        rules.append({"rule_id": f"b-mem-{i}", "name": "mem", "condition": {
            "kind": "metric_threshold", "metric": "mem_percent", "threshold": 70 + i * 5, "clear": 60}})
    for i in range(4):
        rules.append({"rule_id": f"b-load-{i}", "name": "load", "condition": {
            "kind": "metric_threshold", "metric": "load_1", "threshold": 4 + i, "clear": 2}})
    for i in range(3):
        rules.append({"rule_id": f"b-proc-{i}", "name": "procs", "condition": {
            "kind": "metric_threshold", "metric": "process_count", "threshold": 1000 + i * 500, "clear": 800}})
    rules.append({"rule_id": "b-latency", "name": "latency probe", "severity": "critical",
                  "scope": {"agents": [LATENCY_AGENT]},
                  "damping": {"window_s": 60, "max_changes": 1000},
                  "condition": {"kind": "metric_threshold", "metric": "cpu_percent", "threshold": 90, "clear": 50}})
    return rules


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}  # "<alert_id>/<state>" -> arrival time
        self.bad = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                at = time.time()
                try:
                    verify(SECRET, dict(self.headers.items()), body, now=at)
                    alert = json.loads(body).get("alert") or {}
                    receiver.arrivals[f"{alert.get('rule_id')}/{alert.get('seq')}/{alert.get('alert_id')}"] = at
                except Exception:
                    receiver.bad += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def firings_since(self, t: float) -> list[float]:
        return [at for key, at in list(self.arrivals.items()) if key.startswith("b-latency/1/") and at >= t]


def latency_agent(site: Site) -> mqtt.Client:
    """The agent of the latency probe, online at the LMS (a rule may name only agents the site has)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=LATENCY_AGENT)
    c.username_pw_set(LATENCY_AGENT, site.pw[LATENCY_AGENT])
    c.connect(site.broker.host, site.broker.port)
    c.loop_start()
    status = Status(state=Presence.ONLINE, timestamp=time.time(), reason="start")
    c.publish(topics.agent_up(LATENCY_AGENT, AgentUp.STATUS), encode(status), qos=1, retain=True).wait_for_publish()
    wait_for("the latency agent at the LMS", lambda: _known(site), 30, every_s=0.2)
    return c


def _known(site: Site) -> bool:
    try:
        site.api("GET", f"/api/clients/{LATENCY_AGENT}")
    except OSError:
        return False
    return True


def latency_rounds(c: mqtt.Client, receiver: Receiver, rounds: int) -> list[float]:
    out: list[float] = []

    def sample(cpu: float) -> bytes:
        return encode(Metrics(timestamp=time.time(), cpu_percent=cpu, mem_total=1, mem_used=0, mem_percent=1))

    for _ in range(rounds):
        t0 = time.time()
        c.publish(topics.agent_up(LATENCY_AGENT, AgentUp.METRICS), sample(99), qos=1)
        deadline = time.monotonic() + 10
        while not receiver.firings_since(t0) and time.monotonic() < deadline:
            time.sleep(0.002)
        got = receiver.firings_since(t0)
        if got:
            out.append(min(got) - t0)
        c.publish(topics.agent_up(LATENCY_AGENT, AgentUp.METRICS), sample(10), qos=1)
        time.sleep(0.3)
    c.loop_stop()
    c.disconnect()
    return out


def per_sample(agents: int, tmp: Path) -> tuple[float, float, float]:
    """Median µs per sample: the evaluator with 20 rules on churning samples (random CPU: alerts fire and resolve)
    and on quiet ones (every rule inside its thresholds), and decoding the sample (the baseline)."""
    store = Store(tmp / "eval.db").open()

    class Sink:
        def alert_changed(self, record: AlertRecord, *, notify: bool) -> None:
            pass

    ev = AlertEvaluator(Sink(), SiteLabels(store), site_id="bench")
    ev.set_rules([ActiveRule(AlertRule.model_validate(r), "site") for r in twenty_rules()])
    rng = random.Random(1)
    payloads = [encode(Metrics(timestamp=time.time(), cpu_percent=rng.uniform(0, 100), mem_total=8 << 30,
                               mem_used=2 << 30, mem_percent=25.0, load=(0.1, 0.2, 0.3), process_count=200))
                for _ in range(200)]  # fmt: skip
    samples = [decode(Metrics, p) for p in payloads]
    ids = [f"agent-{i:05d}" for i in range(agents)]
    for a in ids:  # warm the per-agent scope cache
        ev.on_metrics(a, samples[0])
    quiet_sample = decode(Metrics, encode(samples[0].model_copy(update={"cpu_percent": 5.0})))
    evals, quiets, decodes = [], [], []
    for rep in range(5):
        t = time.perf_counter()
        for i, a in enumerate(ids):
            ev.on_metrics(a, samples[(i + rep) % len(samples)])
        evals.append((time.perf_counter() - t) / len(ids) * 1e6)
        for a in ids:  # everything resolves (not timed)
            ev.on_metrics(a, quiet_sample)
        t = time.perf_counter()
        for a in ids:
            ev.on_metrics(a, quiet_sample)
        quiets.append((time.perf_counter() - t) / len(ids) * 1e6)
        t = time.perf_counter()
        for i in range(len(ids)):
            decode(Metrics, payloads[(i + rep) % len(payloads)])
        decodes.append((time.perf_counter() - t) / len(ids) * 1e6)
    store.close()
    return statistics.median(evals), statistics.median(quiets), statistics.median(decodes)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    os.environ[WEBHOOK_SECRET_ENV] = SECRET  # the LMS child inherits it
    receiver = Receiver()
    with Site(args.agents, heartbeat_s=5.0, metrics_s=15.0, extra_users=[LATENCY_AGENT]) as site:
        site.start_lms(alerts={"enabled": False})
        time.sleep(args.settle)
        assert site.lms is not None and site.lms.pid is not None
        idle = measure({"lms": site.lms.pid}, args.duration)["lms"]
        site.lms.stop()
        shutil.move(site.work / "lms", site.work / "lms-without-alerts")
        site.start_lms(alerts={"enabled": True, "local_dev_http_webhook": True})
        probe = latency_agent(site)
        for rule in site.api("GET", "/api/alerts/rules")["data"]["site"]:
            site.api("DELETE", f"/api/alerts/rules/{rule['rule_id']}")
        for rule in twenty_rules():
            site.api("POST", "/api/alerts/rules", rule)
        site.api("PUT", "/api/alerts/webhook", {"url": receiver.url, "min_severity": "critical"})
        time.sleep(args.settle)
        assert site.lms.pid is not None
        on = measure({"lms": site.lms.pid}, args.duration)["lms"]
        summary = site.api("GET", "/api/alerts/summary")["data"]
        latencies = latency_rounds(probe, receiver, args.rounds)
        work = site.work
        eval_us, quiet_us, decode_us = per_sample(args.agents, work)
    print(f"\n{args.agents} simulated agents (heartbeat 5 s, metrics 15 s), {args.duration:g} s per measurement")
    print(f"{'LMS':34} {'cpu (cores)':>11} {'RSS MB':>7}")
    print(f"{'alerts off (baseline)':34} {idle.cpu_cores:11.3f} {idle.rss_mb:7.1f}")
    print(f"{'alerts on, 20 rules':34} {on.cpu_cores:11.3f} {on.rss_mb:7.1f}")
    extra = on.cpu_cores - idle.cpu_cores
    print(f"evaluation's share: {extra:+.3f} cores ({extra / max(idle.cpu_cores, 1e-9):+.0%} of the idle LMS); "
          f"samples evaluated {summary['stats']['samples']}, alerts fired {summary['stats']['fired']}, "
          f"resolved {summary['stats']['resolved']}")  # fmt: skip
    print(f"per sample, in process (median of 5 x {args.agents}), beside decoding the sample {decode_us:.1f} µs: "
          f"20 rules on churning samples {eval_us:.1f} µs (x{eval_us / decode_us:.2f}), on quiet ones "
          f"{quiet_us:.1f} µs (x{quiet_us / decode_us:.2f})")
    if latencies:
        print(f"condition → signed webhook: p50 {statistics.median(latencies) * 1000:.1f} ms, max "
              f"{max(latencies) * 1000:.1f} ms over {len(latencies)} of {args.rounds} rounds "
              f"(bad signatures: {receiver.bad})")
    else:
        print("condition → webhook: no delivery arrived")
    receiver.server.shutdown()
    write_results("alerts", [Figure("LMS CPU with 20 alert rules", on.cpu_cores, "cores", idle.cpu_cores, "alerts off"),
                             Figure("LMS RSS with 20 alert rules", on.rss_mb, "MB", idle.rss_mb, "alerts off")],
                  params=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
