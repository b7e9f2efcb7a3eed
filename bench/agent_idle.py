"""Idle cost of the agent, beside ``prometheus-node-exporter`` measured the same way, in one run.

A real agent process (default intervals: heartbeat 5 s, metrics 15 s) runs against a real site broker, as a PC
runs it: the agent wheel (``python -m infra.agent_package``) installed in a fresh venv (:mod:`infra.agent_venv`),
started as the service starts it, ``<venv>/bin/classtop-agent run --config FILE``, with nothing of this repository
on its path. ``--from-source`` runs ``python -m edge.agent`` from this checkout's venv instead (its
editable-install finder and development ``.pth`` files, which no PC has, add ~0.3 MB to the running agent).
``prometheus-node-exporter`` runs beside it and is scraped every 15 s (what a Prometheus server would do; the agent
likewise samples and publishes metrics every 15 s). After a warm-up, both are measured over the same window: CPU as
(user + system time) / wall time, in % of one core, and RSS at the end (and its maximum, sampled every second).

The baseline is installed with apt when missing and running as root; if it cannot be had, the run says so
and prints the agent's figures alone. Each of ``--samples`` samples starts a fresh agent and a fresh exporter;
the figures printed are the medians (and each sample's RSS). Usage:
``python bench/agent_idle.py [--seconds 60] [--warmup 5] [--samples 3] [--from-source]``. Targets: issue 3, the
idle agent under 1 % of a core and under 40 MB RSS; issue 18, at or below node-exporter's RSS and under 0.1 % of a
core.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from infra import agent_package
from infra.agent_venv import clean_env, make_venv
from infra.local import toml_writer
from infra.local.mosquitto import MosquittoProcess
from infra.local.ports import free_port
from infra.local.process import ChildProcess, wait_for

AGENT = "bench-agent"
EXPORTER = "prometheus-node-exporter"
ACL = "user lms\ntopic readwrite ct/#\n\npattern write ct/agent/%u/up/#\npattern read ct/agent/%u/down/#\n"


def find_exporter() -> tuple[str | None, str]:
    """The exporter's path, installing the Debian package if needed and possible; else why not."""
    path = shutil.which(EXPORTER) or shutil.which("node_exporter")
    if path:
        return path, "found"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "not installed, and installing needs root and apt-get"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "--no-install-recommends", EXPORTER]
    for step in ([], [["apt-get", "update"]]):
        for cmd in step:
            subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
        done = subprocess.run(install, env=env, capture_output=True, timeout=600, check=False)
        path = shutil.which(EXPORTER)
        if done.returncode == 0 and path:
            return path, "installed with apt-get"
    return None, f"apt-get install {EXPORTER} failed: {done.stderr.decode(errors='replace').strip()[-300:]}"


class Meter:
    """CPU time and RSS of one process over a window."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.proc = psutil.Process(pid)
        self.max_rss = 0
        self._start_cpu = 0.0
        self._start_wall = 0.0
        self.cpu_percent = 0.0
        self.rss = 0

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        total: float = t.user + t.system + t.children_user + t.children_system
        return total

    def begin(self) -> None:
        self._start_cpu, self._start_wall = self._cpu(), time.monotonic()

    def sample(self) -> None:
        self.max_rss = max(self.max_rss, self.proc.memory_info().rss)

    def end(self) -> None:
        wall = time.monotonic() - self._start_wall
        self.cpu_percent = 100.0 * (self._cpu() - self._start_cpu) / wall
        self.rss = self.proc.memory_info().rss
        self.sample()


def installed_agent(work: Path) -> Path:
    """The agent wheel built from this checkout, installed in a fresh venv under ``work``: its ``bin`` directory."""
    wheel = agent_package.build(work / "dist")
    (work / "pc").mkdir()
    return make_venv(work / "pc", wheel)


def start_agent(work: Path, broker: MosquittoProcess, password: str, n: int, installed: Path | None) -> ChildProcess:
    """A fresh agent (its own state folder), connected and announced online: the installed one when ``installed``
    (its venv's ``bin``) is given, else ``python -m edge.agent`` from this checkout."""
    agent_dir = work / f"agent-{n}"
    agent_dir.mkdir()
    config = agent_dir / "agent.toml"
    config.write_text(
        toml_writer.dumps(
            {
                "agent_id": AGENT,
                "state_dir": str(agent_dir / "state"),
                "mqtt": {"host": "127.0.0.1", "port": broker.port},
                "log": {"stderr": False},
            }
        )
    )
    log_path = work / f"agent-{n}.log"
    if installed is None:
        agent = ChildProcess.python("agent", "edge.agent", ["--config", str(config)], log_path,
                                    env={"CLASSTOP_AGENT_PASSWORD": password})  # fmt: skip
    else:
        agent = ChildProcess("agent", [str(installed / "classtop-agent"), "run", "--config", str(config)], log_path,
                             cwd=work)  # fmt: skip
        agent.env = clean_env(CLASSTOP_AGENT_PASSWORD=password)  # nothing of this checkout on its path
    agent.start()
    log_file = agent_dir / "state" / "logs" / "agent.log"
    wait_for("the agent to connect", lambda: "announced online" in log_file.read_text(), 30, watch=[agent])
    return agent


def start_exporter(work: Path, path: str, n: int) -> tuple[ChildProcess, threading.Event]:
    """node-exporter, scraped every 15 s until the returned event is set."""
    port = free_port()
    exporter = ChildProcess(
        "node-exporter", [path, f"--web.listen-address=127.0.0.1:{port}"], work / f"exporter-{n}.log"
    ).start()
    url = f"http://127.0.0.1:{port}/metrics"
    wait_for("node-exporter", lambda: urllib.request.urlopen(url, timeout=2).status == 200, 30, watch=[exporter])
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(15.0):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=5).read()

    threading.Thread(target=scrape, daemon=True).start()
    return exporter, stop


def sample(work: Path, broker: MosquittoProcess, password: str, exporter_path: str | None, n: int,
           args: argparse.Namespace, installed: Path | None) -> list[Meter]:
    """One sample: a fresh agent (and exporter) side by side, measured over the same window."""
    agent = start_agent(work, broker, password, n, installed)
    exporter: ChildProcess | None = None
    stop = threading.Event()
    try:
        name = "agent (python -m edge.agent)" if installed is None else "agent (installed: classtop-agent run)"
        meters = [Meter(name, agent.pid or 0)]
        if exporter_path:
            exporter, stop = start_exporter(work, exporter_path, n)
            meters.append(Meter(f"{EXPORTER} (scraped every 15 s)", exporter.pid or 0))
        time.sleep(args.warmup)
        for m in meters:
            m.begin()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            time.sleep(1.0)
            agent.check_alive()
            for m in meters:
                m.sample()
        for m in meters:
            m.end()
        return meters
    finally:
        stop.set()
        agent.stop()
        if exporter is not None:
            exporter.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measurement window of each sample")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after start-up before measuring")
    parser.add_argument("--samples", type=int, default=3, help="fresh processes measured, medians printed")
    parser.add_argument("--from-source", action="store_true",
                        help="run python -m edge.agent from this checkout's venv instead of the installed wheel")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ct-bench-idle-"))
    os.chmod(work, 0o755)  # the broker may run as the mosquitto user
    users = {"lms": secrets.token_urlsafe(12), AGENT: secrets.token_urlsafe(12)}
    broker = MosquittoProcess(work / "broker", port=free_port(), users=users, acl_text=ACL)
    exporter_path, exporter_note = find_exporter()
    runs: list[list[Meter]] = []
    installed = None if args.from_source else installed_agent(work)
    try:
        broker.start()
        for n in range(max(1, args.samples)):
            runs.append(sample(work, broker, users[AGENT], exporter_path, n, args, installed))
    finally:
        broker.stop()

    cores = os.cpu_count() or 1
    tick = 100.0 / os.sysconf("SC_CLK_TCK") / args.seconds  # CPU time is counted in clock ticks
    print(f"idle cost, medians of {len(runs)} sample(s) of {args.seconds:g} s each (fresh processes, after "
          f"{args.warmup:g} s warm-up); CPU in % of one core (resolution {tick:.3f} %) and of all {cores} cores")
    print(f"{'process':<46} {'CPU %/core':>10} {'CPU %/all':>10} {'RSS MB':>8} {'max RSS MB':>11}  RSS MB per sample")
    medians = []
    for i, name in enumerate(m.name for m in runs[0]):
        ms = [run[i] for run in runs]
        cpu = statistics.median(m.cpu_percent for m in ms)
        rss = statistics.median(m.rss for m in ms) / 2**20
        max_rss = statistics.median(m.max_rss for m in ms) / 2**20
        medians.append((cpu, rss))
        each = " ".join(f"{m.rss / 2**20:.1f}" for m in ms)
        print(f"{name:<46} {cpu:>10.3f} {cpu / cores:>10.4f} {rss:>8.1f} {max_rss:>11.1f}  {each}")
    agent_cpu, agent_rss = medians[0]
    if len(medians) > 1:
        base_rss = medians[1][1]
        print(f"agent RSS / node-exporter RSS: {agent_rss / base_rss:.2f}")
        ok = agent_cpu < 0.1 and agent_rss <= base_rss
        verdict = 'met' if ok else 'NOT met'
        print(f"target (issue 18: RSS at or below node-exporter's, CPU < 0.1 % of a core): {verdict}")
    else:
        print(f"baseline: {EXPORTER} could not be measured ({exporter_note})")
    ok3 = agent_cpu < 1.0 and agent_rss < 40
    print(f"target (issue 3: agent < 1 % CPU, < 40 MB RSS): {'met' if ok3 else 'NOT met'}")
    write_results("agent_idle", [
        Figure("idle agent RSS", agent_rss, "MB", medians[1][1] if len(medians) > 1 else None, EXPORTER,
               max_ratio=1.0 if len(medians) > 1 else None, max_value=None if len(medians) > 1 else 40.0),
        Figure("idle agent CPU", agent_cpu, "% of a core", max_value=0.1)], params=vars(args))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
