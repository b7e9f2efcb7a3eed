"""Accelerated soak: the local twin at ten times the normal message rates; leaks show as slopes per simulated day.

The local twin (``infra.local.twin``: the IoT Core stand-in, the local cloud, the site broker, the LMS and its
agents, as ``python -m infra.local`` runs them) runs for ``--minutes`` (30) with every periodic message ``--speed``
(10) times as often as the product's defaults send it, and a workload at ten times a busy site's pace:

=====================================  ===============  ==========================================
traffic                                normal period    who sends it
=====================================  ===============  ==========================================
agent heartbeat                        5 s              each agent (``heartbeat_s``)
agent metrics sample                   15 s             each agent (``metrics_s``)
agent process-list event               600 s            each agent (``[processes] interval_s``)
agent ClassTop snapshot                300 s            each agent (``[classtop] sync_interval_s``)
site heartbeat to the cloud            300 s            the LMS (``site_heartbeat_s``)
command (``ping``/``get_setting``)     60 s per agent   this bench, through the LMS's API
settings change (``set_setting``)      600 s per agent  this bench, through the LMS's API
ClassTop desktop client heartbeat      30 s             ``bench/_classtop_fleet.py`` clients (wss)
ClassTop desktop client sync           300 s            this bench, ``POST /api/sync`` per client
=====================================  ===============  ==========================================

Every ``--sample-s`` (60) it samples each process (the LMS, each agent, both brokers, the local cloud) with psutil:
RSS, open file descriptors, threads, and the size of its database files (the LMS's SQLite files, an agent's state
directory, a broker's persistence file; the local cloud keeps its tables in memory: its RSS holds them, so its RSS
slope is printed but not judged). After
``--warmup-minutes`` (a third of the run) it fits a least-squares line to each series and prints its slope **per
simulated day**, over all the samples after the warm-up and over their second half (the **settled** part, which is
judged): a process's bounded caches fill at a rate set by the traffic and then hold, and at ten times the traffic a
cache that a real site fills in a day still fills during the run (the LMS's SQLite page cache, 2 MiB, fills as its
database grows; bounded structures sized for 10,000 agents took a day to fill at a small site: the live feed's ring
and the agent's answered requests, now bounded by age and bytes too). A cache that levels off shows a settled slope
near zero; a leak shows the same slope in both columns. The slope: the twin sends ``speed`` times the normal
traffic, so one wall second is ``speed`` seconds of a site's life, and a slope of ``s`` per wall second is
``s * 86400 / speed`` per simulated day (30 minutes at 10x are 5 hours of traffic). It exits non-zero when any
process's settled RSS grows faster than 1 MB per simulated day, when its descriptors or threads grow steadily (they
never fall and rise at least twice after the warm-up), or when a process was restarted (its series would be
meaningless).

Usage: ``python bench/soak.py [--minutes 30] [--speed 10] [--agents 3] [--classtop 2] [--sample-s 60]``.

Looking inside the LMS (``edge.lms.heap_trace``): ``--tracemalloc DIR --tracemalloc-at 5,20,35`` traces its Python
allocations and writes snapshots at those minutes (compare two with ``python -m edge.lms.heap_trace OLD NEW``; the
tracing's own tables make that run's RSS meaningless); ``--tracemalloc-frames 0`` traces nothing and writes
pymalloc's statistics, malloc's and SQLite's totals instead (``python -m edge.lms.heap_trace DIR``: a table).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._classtop_fleet import FleetCounters, client_uuids
from edge.lms import heap_trace
from edge.lms.alerts.rule_book import default_rules
from edge.lms.config import LmsConfig
from infra.local.twin import Twin
from infra.local.twin_options import TwinOptions, TwinPorts

FLEET = Path(__file__).resolve().parent / "_classtop_fleet.py"
DAY_S = 86400.0
#: the normal periods (s) of the traffic the bench drives itself (the table in the docstring)
COMMAND_S, SETTINGS_S, CLASSTOP_HEARTBEAT_S, CLASSTOP_SYNC_S = 60.0, 600.0, 30.0, 300.0
#: the product's default periods (s) of what the twin's parts send on their own
AGENT_HEARTBEAT_S, AGENT_METRICS_S, PROCESSES_S, AGENT_CLASSTOP_S = 5.0, 15.0, 600.0, 300.0
#: the LMS's full site heartbeat as it ships
SITE_HEARTBEAT_S = float(LmsConfig.model_fields["site_heartbeat_s"].default)
RSS_LIMIT_PER_DAY = 1024 * 1024
#: processes that keep what they store in memory (the local cloud's moto holds the DynamoDB tables, which grow with
#: the traffic by design, as DynamoDB's do): their RSS slope is printed, not judged (their descriptors and threads are)
IN_MEMORY_STORES = frozenset({"local cloud"})
COURSES = [{"id": 1, "name": "Maths", "teacher": "Wang", "color": "#6750A4", "note": None}]
ENTRIES = [{"id": 10, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45", "weeks": [1]}]


class SoakTwin(Twin):
    """The twin with every periodic message ``speed`` times as often."""

    def __init__(self, workdir: Path, options: TwinOptions, speed: float) -> None:
        super().__init__(workdir, options)
        self.speed = speed

    def agent_config(self, agent_id: str) -> dict[str, Any]:
        config = super().agent_config(agent_id)
        config["metrics_s"] = max(1.0, AGENT_METRICS_S / self.speed)
        config["processes"] = {"interval_s": max(10.0, PROCESSES_S / self.speed)}
        config["classtop"] = {"sync_interval_s": max(5.0, AGENT_CLASSTOP_S / self.speed)}
        return config

    def lms_config(self) -> dict[str, Any]:
        config = super().lms_config()
        config["classtop"] = {"client_policy": "open"}  # the bench's ClassTop clients sync without an approval
        return config


# ---------------------------------------------------------------- the workload


@dataclass
class Workload:
    """Commands, settings changes and ClassTop syncs at ``speed`` times the normal pace, on a thread."""

    twin: Twin
    speed: float
    classtop: list[str]
    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def call(self, method: str, path: str, body: Any = None, *, token: bool = True) -> bool:
        req = urllib.request.Request(
            f"{self.twin.lms_url}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.twin.lms_token}"} if token else {})},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.context) as answer:
                return bool(json.loads(answer.read()).get("success"))
        except (OSError, ValueError, urllib.error.HTTPError):
            return False

    def scale_alert_windows(self) -> None:
        """The site's default command-failure rule with its window shortened ``speed`` times: the LMS keeps each
        agent's command results for the widest such window, a wall-clock hour that at 10x the commands would hold
        ten times the results a real site's does (docs/operations.md, "Soak")."""
        rule = next(r for r in default_rules() if r.condition.kind == "command_failure_rate")
        body = rule.model_dump(mode="json")
        body["condition"]["window_s"] = body["condition"]["window_s"] / self.speed
        if not self.call("PUT", f"/api/alerts/rules/{rule.rule_id}", body):
            raise RuntimeError(f"soak: could not shorten the LMS's rule {rule.rule_id}")
        print(f"soak: {rule.rule_id}'s window {body['condition']['window_s']:g} s (1/{self.speed:g})", flush=True)

    def run(self) -> None:
        self.context: ssl.SSLContext = self.twin.lms_ssl_context()
        self.scale_alert_windows()
        agents = list(self.twin.opt.agent_ids)
        jobs: list[tuple[str, float]] = [("command", COMMAND_S / len(agents)), ("settings", SETTINGS_S / len(agents))]
        if self.classtop:
            jobs.append(("sync", CLASSTOP_SYNC_S / len(self.classtop)))
            for uuid in self.classtop:
                self.call("POST", "/api/clients/register", {"uuid": uuid, "name": "", "api_url": ""}, token=False)
        due = {name: time.monotonic() for name, _period in jobs}
        turn = 0
        while not self.stop.is_set():
            for name, period in jobs:
                if time.monotonic() < due[name]:
                    continue
                due[name] += period / self.speed
                turn += 1
                agent = agents[turn % len(agents)]
                if name == "command":
                    body: dict[str, Any] = ({"command": "ping"} if turn % 2 else
                                            {"command": "get_setting", "params": {"key": "soak"}})  # fmt: skip
                    ok = self.call("POST", f"/api/clients/{agent}/command", body)
                elif name == "settings":
                    ok = self.call("PUT", f"/api/settings/{agent}/soak", {"value": str(turn)})
                else:
                    uuid = self.classtop[turn % len(self.classtop)]
                    ok = self.call("POST", "/api/sync", {"client_uuid": uuid, "courses": COURSES,
                                                         "schedule_entries": ENTRIES}, token=False)  # fmt: skip
                counter = self.sent if ok else self.failed
                counter[name] = counter.get(name, 0) + 1
            self.stop.wait(0.05)


# ---------------------------------------------------------------- sampling


@dataclass
class Series:
    """One process's samples: (wall seconds since the soak began, value) per measure."""

    name: str
    pid: int
    files: list[Path]  # its database files or directories
    restarts: int = 0
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, t: float, measure: str, value: float) -> None:
        self.samples.setdefault(measure, []).append((t, value))


def _size(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            total += path.stat().st_size
    return total


def processes(twin: Twin) -> dict[str, tuple[int | None, list[Path]]]:
    """Every process of the twin: name -> (pid, its database files)."""
    assert twin.lms is not None and twin.site_broker is not None and twin.cloud_broker is not None
    assert twin.cloud is not None
    out: dict[str, tuple[int | None, list[Path]]] = {
        "LMS": (twin.lms.pid, sorted(twin.lms_dir.glob("*.db*"))),
        "site broker": (twin.site_broker.pid, [twin.site_broker.data_dir]),
        "IoT Core stand-in": (twin.cloud_broker.pid, [twin.cloud_broker.data_dir]),
        "local cloud": (twin.cloud.pid, []),
    }
    for agent_id, child in twin.agents.items():
        out[f"agent {agent_id}"] = (child.pid, [twin.workdir / "agents" / agent_id / "state"])
    return out


def sample(twin: Twin, series: dict[str, Series], t: float) -> None:
    for name, (pid, files) in processes(twin).items():
        if pid is None:
            continue
        s = series.get(name)
        if s is None:
            s = series[name] = Series(name, pid, files)
        elif s.pid != pid:
            s.restarts += 1
            s.pid = pid
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                s.add(t, "rss", p.memory_info().rss)
                s.add(t, "fds", p.num_fds())
                s.add(t, "threads", p.num_threads())
        except psutil.Error:
            continue
        s.add(t, "db", _size(s.files))


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (value per second)."""
    if len(points) < 2:
        return 0.0
    ts = [t for t, _v in points]
    vs = [v for _t, v in points]
    mt, mv = statistics.fmean(ts), statistics.fmean(vs)
    den = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (v - mv) for t, v in points) / den if den else 0.0


def settled_part(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The second half (by time) of the samples after the warm-up: what the verdict on RSS is judged on."""
    if len(points) < 6:
        return points
    middle = (points[0][0] + points[-1][0]) / 2
    return [(t, v) for t, v in points if t >= middle]


def steady_growth(points: list[tuple[float, float]]) -> bool:
    """Never falls, and rises at least twice."""
    values = [v for _t, v in points]
    pairs = list(itertools.pairwise(values))
    return all(b >= a for a, b in pairs) and sum(1 for a, b in pairs if b > a) >= 2


def report(series: dict[str, Series], warmup_s: float, speed: float) -> bool:
    per_day = DAY_S / speed
    ok = True
    print(f"\nslopes per simulated day (speed {speed:g}x: one wall second = {speed:g} s of traffic), "
          f"after a {warmup_s / 60:.1f} min warm-up")  # fmt: skip
    print(f"{'process':24} {'samples':>7} {'RSS MB':>8} {'RSS MB/day':>11} {'settled':>8} {'fds':>5} {'fds/day':>8} "
          f"{'threads':>7} {'thr/day':>8} {'DB MB':>7} {'DB MB/day':>10}  verdict")  # fmt: skip
    for name in sorted(series):
        s = series[name]
        after = {m: [(t, v) for t, v in pts if t >= warmup_s] for m, pts in s.samples.items()}
        if len(after.get("rss", [])) < 3:
            print(f"{name:24} too few samples after the warm-up")
            ok = False
            continue
        rss, fds, thr, db = (slope(after[m]) * per_day for m in ("rss", "fds", "threads", "db"))
        settled = slope(settled_part(after["rss"])) * per_day
        problems = []
        if settled > RSS_LIMIT_PER_DAY and name not in IN_MEMORY_STORES:
            problems.append("RSS grows")
        if steady_growth(after["fds"]):
            problems.append("descriptors grow")
        if steady_growth(after["threads"]):
            problems.append("threads grow")
        if s.restarts:
            problems.append(f"restarted {s.restarts}x")
        ok = ok and not problems
        last = {m: after[m][-1][1] for m in after}
        verdict = "; ".join(problems) or ("ok (RSS not judged)" if name in IN_MEMORY_STORES else "ok")
        print(f"{name:24} {len(after['rss']):7d} {last['rss'] / 2**20:8.1f} {rss / 2**20:11.2f} {settled / 2**20:8.2f} "
              f"{last['fds']:5.0f} "
              f"{fds:8.1f} {last['threads']:7.0f} {thr:8.1f} {last['db'] / 2**20:7.2f} {db / 2**20:10.2f}  "
              f"{verdict}")  # fmt: skip
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--speed", type=float, default=10.0, help="times the normal message rates")
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--classtop", type=int, default=2, help="ClassTop desktop clients")
    ap.add_argument("--sample-s", type=float, default=60.0)
    ap.add_argument("--warmup-minutes", type=float, default=None, help="default: a third of the run")
    ap.add_argument("--keep", action="store_true", help="keep the twin's work directory (its logs)")
    ap.add_argument("--samples-out", type=Path, help="write every sample here (JSON: process -> measure -> [[t, v]])")
    ap.add_argument("--tracemalloc", type=Path, metavar="DIR",
                    help="trace the LMS's Python allocations, snapshots here (edge.lms.heap_trace)")  # fmt: skip
    ap.add_argument("--tracemalloc-at", default="", metavar="MINUTES",
                    help="with --tracemalloc: the snapshots' minutes since the LMS started, 5,20,35")  # fmt: skip
    ap.add_argument("--tracemalloc-frames", type=int, default=heap_trace.DEFAULT_FRAMES, metavar="N",
                    help="with --tracemalloc: frames per allocation; 0: no tracing (the RSS as without), pymalloc's "
                         "statistics at those minutes instead")  # fmt: skip
    args = ap.parse_args(argv)
    warmup_s = 60 * (args.warmup_minutes if args.warmup_minutes is not None else args.minutes / 3)
    options = TwinOptions(
        ports=TwinPorts.free(), agent_ids=tuple(f"pc-{i + 1:02d}" for i in range(args.agents)),
        agent_heartbeat_s=AGENT_HEARTBEAT_S / args.speed, site_heartbeat_s=max(1.0, SITE_HEARTBEAT_S / args.speed),
    )  # fmt: skip
    if args.tracemalloc is not None:  # the LMS inherits the environment (infra.local.process); the agents ignore it
        os.environ[heap_trace.ENV_DIR] = str(args.tracemalloc.resolve())
        os.environ[heap_trace.ENV_AT] = args.tracemalloc_at
        os.environ[heap_trace.ENV_FRAMES] = str(args.tracemalloc_frames)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))  # stopped: the twin still stops (finally)
    workdir = Path(tempfile.mkdtemp(prefix="ct-soak-"))
    twin = SoakTwin(workdir, options, args.speed)
    fleet: subprocess.Popen[bytes] | None = None
    workload: Workload | None = None
    series: dict[str, Series] = {}
    print(f"soak: the local twin in {workdir}, {args.minutes:g} min at {args.speed:g}x "
          f"({args.minutes * args.speed / 60:.1f} h of traffic)", flush=True)  # fmt: skip
    try:
        twin.start()
        uuids = client_uuids(args.classtop)
        if uuids:
            fleet = subprocess.Popen([
                sys.executable, str(FLEET), "--base", f"wss://{options.host}:{options.ports.lms}", "--count",
                str(len(uuids)), "--counters", str(workdir / "classtop-counters.json"), "--cafile",
                str(twin.lms_ca_file), "--heartbeat-s", str(CLASSTOP_HEARTBEAT_S / args.speed),
            ], stdout=subprocess.DEVNULL)  # fmt: skip
        workload = Workload(twin, args.speed, uuids)
        threading.Thread(target=workload.run, name="soak-workload", daemon=True).start()
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        while True:
            now = time.monotonic()
            sample(twin, series, now - t0)
            print(f"  {(now - t0) / 60:5.1f} min: " + ", ".join(
                f"{n} {s.samples['rss'][-1][1] / 2**20:.1f} MB" for n, s in sorted(series.items()) if "rss" in s.samples
            ), flush=True)  # fmt: skip
            if now >= end:
                break
            time.sleep(min(args.sample_s, max(0.0, end - now)))
    finally:
        if workload is not None:
            workload.stop.set()
        if fleet is not None:
            fleet.terminate()
            fleet.wait(10)
        twin.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.samples_out is not None:
        args.samples_out.write_text(json.dumps({name: s.samples for name, s in series.items()}))
    if workload is not None:
        print(f"\nworkload: sent {workload.sent}, failed {workload.failed}")
    counters = FleetCounters.read(workdir / "classtop-counters.json") if args.keep else None
    if counters is not None:
        print(f"ClassTop clients: {counters}")
    return 0 if report(series, warmup_s, args.speed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
