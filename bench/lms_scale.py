"""LMS and broker CPU and memory with 1,000 and 10,000 simulated agents, beside the broker alone, in one run.

For each fleet size: a site broker and the simulated agents of ``bench/_sim_agents.py`` (one helper process,
heartbeat every 5 s, metrics every 15 s, staggered). First the baseline: the broker alone under that load
(no LMS), measured for ``--duration`` seconds with psutil; then a real LMS process is started, every agent
is seen online, and LMS + broker are measured the same way. CPU is in cores (CPU seconds / wall seconds);
RSS is the largest sample (one a second). The CPU is the processes' own (user + system), not wall time: on a
shared machine it is the figure that does not depend on the neighbours. The goal (issue 18): at 10,000 agents
the LMS under 0.5 core and LMS + broker under 200 MB.

10,000 agents need 10,000 descriptors in the broker and as many in the simulator (``ulimit -n``; the site's
``infra/lms/compose.yaml`` raises it for the containers).

Usage: ``python bench/lms_scale.py [--agents 1000 10000] [--duration 30]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import Figure, write_results
from bench._sim_agents import Site

#: issue 18's goal for one LMS
GOAL_AGENTS, GOAL_CORES, GOAL_MB = 10_000, 0.5, 200.0


@dataclass
class Usage:
    cpu_cores: float
    rss_mb: float


def measure(pids: dict[str, int], duration: float) -> dict[str, Usage]:
    procs = {name: psutil.Process(pid) for name, pid in pids.items()}
    start = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    peak = dict.fromkeys(procs, 0)
    t0 = time.monotonic()
    while time.monotonic() - t0 < duration:
        for name, p in procs.items():
            peak[name] = max(peak[name], p.memory_info().rss)
        time.sleep(1.0)
    wall = time.monotonic() - t0
    return {name: Usage((sum(p.cpu_times()[:2]) - start[name]) / wall, peak[name] / 2**20) for name, p in procs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, nargs="+", default=[1000, 10_000])
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait before each measurement")
    args = ap.parse_args()
    rows: list[tuple[int, str, Usage, Usage | None]] = []
    for count in args.agents:
        with Site(count, heartbeat_s=5.0, metrics_s=15.0) as site:
            assert site.broker.pid is not None
            time.sleep(args.settle)
            alone = measure({"broker": site.broker.pid}, args.duration)
            rows.append((count, "broker alone (baseline)", alone["broker"], None))
            site.start_lms()
            time.sleep(args.settle)
            assert site.lms is not None and site.lms.pid is not None
            both = measure({"broker": site.broker.pid, "lms": site.lms.pid}, args.duration)
            rows.append((count, "LMS + broker", both["broker"], both["lms"]))
    print(f"\nsimulated agents: heartbeat 5 s, metrics 15 s; {args.duration:g} s per measurement")
    header = f"{'agents':>6} {'setup':24} {'broker cpu':>10} {'broker MB':>9} {'LMS cpu':>8} {'LMS MB':>7}"
    print(f"{header} {'total MB':>8}")
    for count, name, broker, lms in rows:
        lms_cpu = f"{lms.cpu_cores:8.3f}" if lms else f"{'-':>8}"
        lms_mb = f"{lms.rss_mb:7.1f}" if lms else f"{'-':>7}"
        total = broker.rss_mb + (lms.rss_mb if lms else 0.0)
        print(f"{count:6d} {name:24} {broker.cpu_cores:10.3f} {broker.rss_mb:9.1f} {lms_cpu} {lms_mb} {total:8.1f}")
    for count, _name, broker, lms in rows:
        if lms is not None and count >= GOAL_AGENTS:
            total = broker.rss_mb + lms.rss_mb
            print(f"goal at {count} agents: LMS {lms.cpu_cores:.3f} core (goal < {GOAL_CORES}: "
                  f"{'met' if lms.cpu_cores < GOAL_CORES else 'NOT met'}), LMS + broker {total:.1f} MB (goal < "
                  f"{GOAL_MB:g}: {'met' if total < GOAL_MB else 'NOT met'})")  # fmt: skip
    write_results("lms_scale", [figure for (count, _, alone, _), (_, _, broker, lms)
                                in zip(rows[::2], rows[1::2], strict=True) if lms is not None for figure in (
        Figure(f"LMS CPU at {count} agents", lms.cpu_cores, "cores", alone.cpu_cores, "broker alone",
               max_value=GOAL_CORES, x=count, x_name="agents", series="lms_cpu"),
        Figure(f"LMS + broker RSS at {count} agents", lms.rss_mb + broker.rss_mb, "MB", alone.rss_mb, "broker alone",
               max_value=GOAL_MB, x=count, x_name="agents", series="lms_memory"))], params=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
