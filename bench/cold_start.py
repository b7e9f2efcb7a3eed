"""Lambda cold start of every cloud function: its import beside ``boto3`` + ``pynamodb`` alone, and its peak memory
handling one request or event — the figures each function's memory size comes from (docs/deploy.md#cold-starts).

Import: each function's ``Handler`` (``app.app``, ``chalicelib.handlers.<name>``) resolved as Lambda's runtime does
(import the module, get the attribute) in a fresh interpreter with ``-X importtime``, with the environment Lambda
gives it (``AWS_LAMBDA_FUNCTION_NAME``: JSON logs on); the baseline, ``import boto3, pynamodb.models``, in the same
run, interleaved, ``--runs`` times each. The table shows medians: the import's CPU time (what the import costs; on a
shared machine its wall time swells with the load of others), its wall time and the sum of ``-X importtime``'s self
times beside; the baseline's CPU time and the ratio (goal: 1.5x for the API, 1.2x for a rule or schedule function),
and the ratio of the wall times.

First event (``--events``, the default; ``--event-runs`` rounds): a fresh interpreter per function imports it, handles
one request or event
against a moto server (``GET /api/agents`` with an unknown token: a 401 after the token table is read, then — a
warm API function serves every route — every service and client built and the token library loaded; a valid
message of its kind from site ``s1``; a scheduled tick), and reports the time and its peak RSS (``VmHWM``): ``event
cpu`` is the first event's CPU time (median), ``cold cpu`` the import's plus the first event's — what loading a part
on first use moves from the import to the first call shows there, not lost. The
event column says how it ended: a message for a site or agent the tables do not hold is dropped after the reads
that find so, having loaded its service, models and client. ``--apply`` writes the memory sizes into
cloud/.chalice/config.json (then ``python -m infra.aws.template`` regenerates template.yaml).

Usage: ``python bench/cold_start.py [--runs 7] [--no-events] [--apply]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import ROOT, Figure, write_results

CLOUD = ROOT / "cloud"
CONFIG = CLOUD / ".chalice" / "config.json"
TENANT, STAGE = "bench", "cold"
BASELINE = "boto3 + pynamodb"
API_GOAL, FUNCTION_GOAL = 1.5, 1.2
#: Lambda's memory sizes: a multiple of this, at least the minimum; peak RSS times the headroom (docs/deploy.md)
MEMORY_STEP_MB, MEMORY_MIN_MB, HEADROOM = 64, 128, 1.5
MARK = "--cold-start-import--"

#: what a fresh interpreter runs: resolve the handler (or import the baseline), report times and peak RSS as JSON;
#: with an event, handle it too (Lambda's init, then its first invocation)
CHILD = f"""
import importlib, json, sys, time
spec, event = sys.argv[1], sys.argv[2]
sys.stderr.write({MARK!r} + "\\n"); sys.stderr.flush()
t0, c0 = time.perf_counter(), time.process_time()
if spec == "baseline":
    import boto3, pynamodb.models
    handler = None
else:
    module, _, attribute = spec.rpartition(".")
    handler = getattr(importlib.import_module(module), attribute)
out = {{"import_ms": (time.perf_counter() - t0) * 1e3, "import_cpu_ms": (time.process_time() - c0) * 1e3}}
if event != "null":
    class Context:
        aws_request_id, function_name, memory_limit_in_mb = "bench-request", spec, 128
        def get_remaining_time_in_millis(self): return 30000
    t1, c1 = time.perf_counter(), time.process_time()
    answer = handler(json.loads(event), Context())
    out["event_ms"], out["event_cpu_ms"] = (time.perf_counter() - t1) * 1e3, (time.process_time() - c1) * 1e3
    out["answer"] = answer if isinstance(answer, dict) else str(answer)
    if spec == "app.app":  # a warm API function ends up with every route's path loaded: build every part
        from chalicelib import container
        from chalicelib.parts.lazy_part import LazyPart
        services = container.get()
        for name, part in [kv for klass in reversed(type(services).__mro__) for kv in vars(klass).items()]:
            if isinstance(part, LazyPart):
                built = getattr(services, name)
                if isinstance(getattr(type(built), "client", None), property):
                    built.client
        import joserfc.jwt, joserfc.jwk
# VmHWM: this process image's peak RSS (ru_maxrss would carry the forking parent's over exec)
with open("/proc/self/status") as status:
    out["rss_mb"] = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:")) / 1024
print(json.dumps(out, default=str))
"""


@dataclass(frozen=True)
class Function:
    name: str
    handler: str

    @property
    def goal(self) -> float:
        return API_GOAL if self.name == "api_handler" else FUNCTION_GOAL


def functions() -> list[Function]:
    """The app's functions, as ``chalice package`` names them (infra.aws.cloud_app)."""
    from infra.aws.cloud_app import functions as app_functions

    return [Function(f.name, f.handler) for f in app_functions()]


def lambda_env(function: Function, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What Lambda sets (the parts the app reads), the package root on the path (cloud/ and shared/ beside it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLASSTOP_", "AWS_", "PYTHON"))}
    env.update({
        "PYTHONPATH": f"{CLOUD}{os.pathsep}{ROOT}", "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_FUNCTION_NAME": f"classtop-{function.name}", "_HANDLER": function.handler,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "CLASSTOP_TENANT": TENANT, "CLASSTOP_STAGE": STAGE,
    })
    env.update(extra or {})
    return env


def run_child(spec: str, env: dict[str, str], event: Any = None) -> tuple[dict[str, Any], float]:
    """One fresh interpreter: its JSON report and the sum of ``-X importtime`` self times after the mark (ms)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", CHILD, spec, json.dumps(event)], env=env,
                          cwd=CLOUD, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{spec}: exit {done.returncode}\n{done.stderr[-2000:]}")
    after = done.stderr.split(MARK, 1)[1]
    self_us = sum(int(line.split("|")[0].split(":")[1]) for line in after.splitlines()
                  if line.startswith("import time:") and line.split("|")[0].split(":")[1].strip().isdigit())
    return json.loads(done.stdout.strip().splitlines()[-1]), self_us / 1e3


@dataclass
class ImportFigures:
    wall_ms: float
    importtime_ms: float
    cpu_ms: float


def measure_imports(fns: list[Function], runs: int) -> tuple[ImportFigures, dict[str, ImportFigures]]:
    """Medians over ``runs`` interleaved rounds (baseline, then every function, in each round)."""
    samples: dict[str, list[tuple[float, float, float]]] = {"baseline": [], **{f.name: [] for f in fns}}
    for _ in range(runs):
        for name, spec, env in [("baseline", "baseline", lambda_env(fns[0])),
                                *[(f.name, f.handler, lambda_env(f)) for f in fns]]:
            report, importtime_ms = run_child(spec, env)
            samples[name].append((report["import_ms"], importtime_ms, report["import_cpu_ms"]))

    def median(rows: list[tuple[float, float, float]]) -> ImportFigures:
        return ImportFigures(*(statistics.median(column) for column in zip(*rows, strict=True)))

    return median(samples.pop("baseline")), {name: median(rows) for name, rows in samples.items()}


# ---------------------------------------------------------------- first event


def rule_event(site_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """What an IoT rule hands a rule function (chalicelib.handlers.events)."""
    encoded = base64.b64encode(json.dumps(message).encode()).decode()
    return {"topic_site_id": site_id, "message_base64": encoded}


#: a second first request of the API function, one with a body: the heaviest schema (every command's params)
API_BODY = "api_handler:POST"


def api_request(method: str, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """What API Gateway hands the API function."""
    return {"resource": path, "path": path, "httpMethod": method,
            "headers": {"authorization": f"Bearer {token}", "accept": "application/json",
                        **({"content-type": "application/json"} if body is not None else {})},
            "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": None, "stageVariables": None, "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
            "requestContext": {"resourcePath": path, "httpMethod": method, "path": path, "requestId": "bench-request",
                               "stage": "api", "identity": {"sourceIp": "127.0.0.1"}}}


def events(admin_token: str = "ct_bench_unknown_token") -> dict[str, Any]:
    now = time.time()
    scheduled = {"id": "bench", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "region": "us-east-1",
                 "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench"], "detail": {}, "version": "0"}
    api = api_request("GET", "/api/agents", "ct_bench_unknown_token")
    # an admin's command to an agent the tables do not hold: the body parsed and checked, then a 404
    command = api_request("POST", "/api/commands", admin_token, {"agent_id": "pc-1", "command": "ping", "params": {}})
    messages = {
        "site_heartbeat": {"type": "site_heartbeat", "v": 1, "timestamp": now, "lms_version": "1.0.0", "full": True,
                           "agents": [{"agent_id": "pc-1", "status": "online"}]},
        "command_results": {"type": "command_results", "v": 1, "results": [
            {"request_id": "bench-command", "agent_id": "pc-1", "status": "delivered", "timestamp": now}]},
        "site_events": {"type": "site_events", "v": 1, "events": [{"agent_id": "pc-1", "event": {
            "type": "event", "v": 1, "timestamp": now, "kind": "camera.recording", "data": {"camera_id": "door"}}}]},
        "site_sync": {"type": "agent_snapshots", "v": 1, "snapshots": [snapshot()]},
        "site_metrics": {"type": "metric_rollups", "v": 1, "rollups": [{
            "agent_id": "pc-1", "start": int(now // 3600 * 3600), "period_s": 300, "samples": 30, "cpu_min": 1.0,
            "cpu_avg": 10.0, "cpu_max": 50.0, "mem_min": 40.0, "mem_avg": 45.0, "mem_max": 50.0}]},
        "agents_retired": {"type": "agents_retired", "v": 1, "agents": [
            {"agent_id": "pc-1", "retired_at": now, "by": "tech#1", "reason": "scrapped"}]},
        "upgrade_reports": {"type": "upgrade_campaign_report", "v": 1, "campaign_id": "bench-campaign",
                            "state": "running", "lms_campaign_id": 7, "version": "1.1.0", "agent_count": 0,
                            "timestamp": now, "agents": []},
        "site_alerts": {"type": "site_alerts", "v": 1, "alerts": [alert(now)]},
    }
    return {"api_handler": api, API_BODY: command, **{name: rule_event("s1", m) for name, m in messages.items()},
            "site_presence": presence_event(now),
            "expire_commands": scheduled, "evaluate_alerts": scheduled, "alert_digest": scheduled}


def presence_event(now: float) -> dict[str, Any]:
    """What the lifecycle rule hands ``site_presence``: IoT Core's ``connected`` event of site ``s1``'s client."""
    from shared.names import Namespace
    from shared.topics import site_thing_name

    client_id = site_thing_name(Namespace(TENANT, STAGE), "s1")
    lifecycle = {"clientId": client_id, "timestamp": int(now * 1000), "eventType": "connected",
                 "versionNumber": 1, "principalIdentifier": "bench", "ipAddress": "192.0.2.1"}
    encoded = base64.b64encode(json.dumps(lifecycle).encode()).decode()
    return {"topic_client_id": client_id, "message_base64": encoded}


def snapshot() -> dict[str, Any]:
    from shared.messages import snapshot_hash

    body = {"theme": "dark"}
    return {"agent_id": "pc-1", "kind": "settings", "epoch": "e0001", "version": 1, "hash": snapshot_hash(body),
            "data": body, "updated_at": time.time()}


def alert(now: float) -> dict[str, Any]:
    """An agent's alert as its LMS reports it."""
    from shared.messages.alert import AlertTarget, TargetKind, alert_key

    target = AlertTarget(kind=TargetKind.AGENT, agent_id="pc-1")
    return {"alert_id": "b" * 32, "key": alert_key("tenant", "disk-full", target), "seq": 1,
            "rule_id": "disk-full", "rule_scope": "tenant", "rule_name": "Disk almost full", "severity": "error",
            "condition_kind": "metric_threshold", "target": target.model_dump(mode="json"), "state": "firing",
            "message": "disk 95 % used", "value": 95.0, "opened_at": now, "changed_at": now + 1, "flapping": False}


@dataclass
class EventFigures:
    #: import and first event, wall time (one run)
    event_ms: float
    #: the first event alone, CPU time (median of the runs)
    event_cpu_ms: float
    rss_mb: float
    outcome: str


def outcome(answer: Any) -> str:
    if isinstance(answer, dict) and "statusCode" in answer:
        return f"HTTP {answer['statusCode']}"
    if isinstance(answer, dict) and answer.get("ok") is False:
        return f"dropped: {answer.get('error', {}).get('code')}"
    return "ok"


def measure_events(fns: list[Function], runs: int) -> dict[str, EventFigures]:
    """Start moto, create the tables, then fresh interpreters per function each handling one event (``runs``
    rounds: the first event's CPU time is their median; a lazy import moves CPU time from the import to here)."""
    import logging

    from moto.server import ThreadedMotoServer

    from infra.local.cloud import cloud_environment
    from infra.local.ports import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        env = cloud_environment(TENANT, STAGE, f"http://127.0.0.1:{port}")
        os.environ.update(env)
        sys.path.insert(0, str(CLOUD))
        from chalicelib.config import Settings
        from chalicelib.models import create_tables

        create_tables(Settings.from_env())
        from chalicelib import container

        crafted = events(container.get().tokens.create("admin", "bench").secret)
        api = next(f for f in fns if f.name == "api_handler")
        runs_of = [(f.name, f) for f in fns] + [(API_BODY, api)]
        reports: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in runs_of}
        for _ in range(runs):
            for name, f in runs_of:
                reports[name].append(run_child(f.handler, lambda_env(f, env), crafted[name])[0])
        out = {}
        for name, _ in runs_of:
            first = reports[name][0]
            out[name] = EventFigures(first["import_ms"] + first["event_ms"],
                                     statistics.median(r["event_cpu_ms"] for r in reports[name]),
                                     max(r["rss_mb"] for r in reports[name]), outcome(first.get("answer")))
        return out
    finally:
        server.stop()


def memory_size(rss_mb: float) -> int:
    """Peak RSS times the headroom, up to Lambda's next step, at least its minimum (docs/deploy.md)."""
    return max(MEMORY_MIN_MB, math.ceil(rss_mb * HEADROOM / MEMORY_STEP_MB) * MEMORY_STEP_MB)


def apply_sizes(sizes: dict[str, int]) -> None:
    config = json.loads(CONFIG.read_text(encoding="utf-8"))
    stage = config["stages"]["dev"].setdefault("lambda_functions", {})
    for name, size in sizes.items():
        stage.setdefault(name, {})["lambda_memory_size"] = size
    with tempfile.NamedTemporaryFile("w", dir=CONFIG.parent, delete=False, encoding="utf-8") as tmp:
        tmp.write(json.dumps(config, indent=2) + "\n")
    Path(tmp.name).replace(CONFIG)
    print(f"memory sizes written to {CONFIG.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="fresh interpreters per function (medians)")
    ap.add_argument("--events", action=argparse.BooleanOptionalAction, default=True,
                    help="also handle one event per function against moto: first-event time and peak RSS")
    ap.add_argument("--event-runs", type=int, default=3, help="fresh interpreters per function handling one event")
    ap.add_argument("--apply", action="store_true", help="write the memory sizes into cloud/.chalice/config.json")
    args = ap.parse_args()
    fns = functions()
    base, imports = measure_imports(fns, args.runs)
    firsts = measure_events(fns, args.event_runs) if args.events else {}
    print(f"\nLambda cold start: medians of {args.runs} fresh interpreters each (cpu count {os.cpu_count()}, load "
          f"{os.getloadavg()[0]:.1f}); import ms = CPU time of the import (what it costs; wall time swells with the "
          f"machine's load), wall and -X importtime beside; baseline `import boto3, pynamodb.models`: "
          f"{base.cpu_ms:.0f} ms CPU, {base.wall_ms:.0f} ms wall, {base.importtime_ms:.0f} ms importtime")
    print(f"{'function':16} {'import ms':>9} {'wall ms':>8} {'importtime':>10} {'baseline ms':>11} {'ratio':>6} "
          f"{'goal':>5} {'wall ratio':>10} {'event cpu':>9} {'cold cpu':>8} {'first event ms':>14} {'peak MB':>8} "
          f"{'memory MB':>9}  event")
    figures: list[Figure] = []
    sizes: dict[str, int] = {}
    for f in fns:
        got = imports[f.name]
        ratio = got.cpu_ms / base.cpu_ms
        first = firsts.get(f.name)
        line = (f"{f.name:16} {got.cpu_ms:9.0f} {got.wall_ms:8.0f} {got.importtime_ms:10.0f} {base.cpu_ms:11.0f} "
                f"{ratio:6.2f} {f.goal:4.1f}x {got.wall_ms / base.wall_ms:10.2f}")
        figures.append(Figure(f"{f.name}: import (CPU)", got.cpu_ms, "ms", base.cpu_ms, BASELINE, max_ratio=f.goal,
                              series="cold_start"))
        if first is not None:
            other = firsts.get(API_BODY) if f.name == "api_handler" else None
            sizes[f.name] = memory_size(max(first.rss_mb, other.rss_mb if other else 0.0))
            line += (f" {first.event_cpu_ms:9.0f} {got.cpu_ms + first.event_cpu_ms:8.0f} {first.event_ms:14.0f} "
                     f"{first.rss_mb:8.1f} {sizes[f.name]:9d}  {first.outcome}")
            figures.append(Figure(f"{f.name}: import + first event (CPU)", got.cpu_ms + first.event_cpu_ms, "ms",
                                  series="cold_start"))
            figures.append(Figure(f"{f.name}: peak RSS, one event", first.rss_mb, "MB"))
        print(line)
        if f.name == "api_handler" and API_BODY in firsts:  # its other first request: one with a body
            body = firsts[API_BODY]
            print(f"{'  POST /api/commands':{16 + 59}} {body.event_cpu_ms:9.0f} {got.cpu_ms + body.event_cpu_ms:8.0f} "
                  f"{body.event_ms:14.0f} {body.rss_mb:8.1f} {'':>9}  {body.outcome}")
            figures.append(Figure("api_handler: import + first POST /api/commands (CPU)",
                                  got.cpu_ms + body.event_cpu_ms, "ms", series="cold_start"))
    write_results("cold_start", figures, params=vars(args))
    if args.apply and sizes:
        apply_sizes(sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
