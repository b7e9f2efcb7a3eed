"""What every bench writes for ``bench/report.py``: its figures as JSON lines, one file per bench.

A bench ends with one call, ``write_results("rtt", [Figure(...), ...], params=vars(args))``: the file
``$BENCH_RESULTS_DIR/<bench>.jsonl`` (default ``var/bench/``) is replaced by one line per figure, each with the
bench's parameters (a quick run and a full one are told apart), the time and the machine's CPU count. A figure
carries its baseline (measured in the same run) and its goal: a ceiling on the ratio to the baseline
(``max_ratio``) or on the value itself (``max_value``). ``samples`` (e.g. every round trip) are kept as 101
quantiles, for the distribution plots of ``docs/benchmarks.md``; ``x`` places a figure on a plot's axis (agents).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_ENV = "BENCH_RESULTS_DIR"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "var" / "bench"


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its baseline and goal."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None
    #: goal: value / baseline at most this
    max_ratio: float | None = None
    #: goal: value at most this (in ``unit``)
    max_value: float | None = None
    #: the figure's place on a plot's x axis (e.g. agents connected) and what it is
    x: float | None = None
    x_name: str | None = None
    #: the plot the figure belongs to (``docs/benchmarks.md``), if any
    series: str | None = None
    samples: Sequence[float] | None = field(default=None, repr=False)


def quantiles(samples: Sequence[float]) -> list[float]:
    """101 points: the minimum, the 1st..99th percentiles and the maximum."""
    ordered = sorted(samples)
    if len(ordered) < 2:
        return list(ordered) * 101 if ordered else []
    inner = statistics.quantiles(ordered, n=100, method="inclusive")
    return [ordered[0], *inner, ordered[-1]]


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_DIR)


def write_results(bench: str, figures: Iterable[Figure], *, params: Mapping[str, Any] | None = None) -> Path:
    """Replace ``<results dir>/<bench>.jsonl`` with ``figures``; return its path."""
    directory = results_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = []
    for figure in figures:
        row = {k: v for k, v in asdict(figure).items() if v is not None}
        if figure.samples is not None:
            row["samples"] = quantiles(figure.samples)
        lines.append(json.dumps({"bench": bench, **row, "params": dict(params or {}), "at": stamp,
                                 "cpus": os.cpu_count()}, default=str))
    path = directory / f"{bench}.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return path
