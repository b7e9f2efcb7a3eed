"""Where an idle agent's memory goes: each layer of ``edge.agent.__main__``'s imports, in a fresh interpreter.

Imports the layers in order, one interpreter per run, and prints after each the process's RSS and the Python
heap traced by ``tracemalloc`` (what the layer's import added, its dependencies not yet loaded included), and how
much of the RSS is anonymous memory (``/proc/self/smaps_rollup``: heaps and Python's arenas, private; the rest
is shared libraries' file pages). The first row is the bare interpreter. Medians over ``--runs`` fresh
interpreters. Usage: ``python bench/agent_footprint.py [--runs 3]``; edge/agent/README.md#footprint has the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: the layers, in the order the agent meets them (each includes what it imports and was not loaded before)
LAYERS = [
    "edge.agent",  # first, as in the agent: its __init__ defers what is used rarely (edge.agent.deferred_modules)
    "ssl",
    "psutil",
    "paho.mqtt.client",
    "msgspec",
    "shared.messages.structs",
    "edge.agent.config",
    "edge.agent.uplink",
    "edge.agent.classtop",
    "edge.agent.commands",
    "edge.agent.__main__",
]
#: loaded only on first use; printed on top of the whole agent to show what each would cost
ON_DEMAND = ["pydantic", "shared.commands", "cryptography.x509", "shared.messages.site", "numpy", "cv2"]

PROBE = """
import gc, importlib, json, os, sys, tracemalloc
if os.environ.get("TRACE") == "1":  # tracing inflates RSS: the heap is measured in runs of its own
    tracemalloc.start()
def rollup():  # resident pages: all, and the anonymous ones (the rest are shared libraries' file pages)
    kb = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[-1] == "kB":
                kb[parts[0]] = int(parts[1]) * 1024
    return kb["Rss:"], kb["Anonymous:"]
gc.collect()
out = [["python", *rollup(), tracemalloc.get_traced_memory()[0]]]
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError:
        out.append([name, None, None, None])
        continue
    gc.collect()
    out.append([name, *rollup(), tracemalloc.get_traced_memory()[0]])
print(json.dumps(out))
"""


def one_run(names: list[str], trace: bool) -> list[list[Any]]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        TRACE="1" if trace else "0",
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    rows: list[list[Any]] = json.loads(done.stdout)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters; medians printed")
    args = parser.parse_args()
    names = LAYERS + ON_DEMAND
    runs = [one_run(names, trace=False) for _ in range(max(1, args.runs))]
    traced = [one_run(names, trace=True) for _ in range(max(1, args.runs))]
    print(f"agent import layers, medians of {len(runs)} fresh interpreter(s); MB = 2**20 bytes")
    print(f"{'layer':<28} {'RSS MB':>7} {'+RSS':>6} {'anon MB':>8} {'file MB':>8} {'heap MB':>8} {'+heap':>6}")
    prev_rss = prev_heap = 0.0
    for i, row in enumerate(runs[0]):
        name = row[0]
        if any(run[i][1] is None for run in runs + traced):
            print(f"{name:<28} {'(not installed)':>30}")
            continue
        rss = statistics.median(run[i][1] for run in runs) / 2**20
        anon = statistics.median(run[i][2] for run in runs) / 2**20
        heap = statistics.median(run[i][3] for run in traced) / 2**20
        on_demand = " (on first use)" if name in ON_DEMAND else ""
        print(
            f"{name:<28} {rss:>7.1f} {rss - prev_rss if i else 0:>+6.1f} {anon:>8.1f} {rss - anon:>8.1f} "
            f"{heap:>8.2f} {heap - prev_heap if i else 0:>+6.2f}{on_demand}"
        )
        prev_rss, prev_heap = rss, heap
    return 0


if __name__ == "__main__":
    sys.exit(main())
