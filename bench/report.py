"""Every bench's figures in one table — figure, baseline, ratio, goal — and the benchmark page with its plots.

``python bench/report.py`` prints the table from the JSON lines the benches wrote (``bench/_results.py``,
``$BENCH_RESULTS_DIR`` or ``var/bench/``); ``make bench`` ends with it. ``--page docs/benchmarks.md`` also writes the
page: the table, each bench's parameters, and SVG plots drawn here (no plotting library, no build step) into
``docs/benchmarks/``: LMS CPU and memory against agents (``bench/lms_scale.py``) and the round-trip distributions
beside the raw echo (``bench/rtt.py``). Exit 0 whether goals are met or not (the table says which).

The page keeps the results it shows beside it, in ``docs/benchmarks/results/<bench>.jsonl`` (committed). A bench with
no results in the results directory is shown from there: re-running some benches and writing the page again replaces
their rows and keeps the others' (each bench's parameters on the page say when it ran).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._results import ROOT, results_dir

PLOT_DIR = "benchmarks"
#: where the page keeps the results it shows (beside its plots)
KEPT_DIR = "results"


@dataclass(frozen=True)
class Row:
    bench: str
    name: str
    value: float
    unit: str
    baseline: float | None
    baseline_name: str | None
    max_ratio: float | None
    max_value: float | None
    raw: dict[str, Any]

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def goal(self) -> str:
        if self.max_ratio is not None:
            return f"<= {self.max_ratio:g}x"
        if self.max_value is not None:
            return f"<= {self.max_value:g} {self.unit}"
        return ""

    @property
    def met(self) -> str:
        if self.max_ratio is not None and self.ratio is not None:
            return "met" if self.ratio <= self.max_ratio else "NOT met"
        if self.max_value is not None:
            return "met" if self.value <= self.max_value else "NOT met"
        return ""


def result_files(directory: Path, kept: Path | None = None) -> list[Path]:
    """Each bench's results: from ``directory``, else (a bench it lacks) from ``kept``, the page's own."""
    files = {path.name: path for path in kept.glob("*.jsonl")} if kept is not None else {}
    files.update({path.name: path for path in directory.glob("*.jsonl")})
    return [files[name] for name in sorted(files)]


def load(directory: Path, kept: Path | None = None) -> list[Row]:
    rows = []
    for path in result_files(directory, kept):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            rows.append(Row(d["bench"], d["name"], float(d["value"]), d.get("unit", ""), d.get("baseline"),
                            d.get("baseline_name"), d.get("max_ratio"), d.get("max_value"), d))
    return rows


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def table(rows: Sequence[Row]) -> list[list[str]]:
    head = ["bench", "figure", "value", "baseline", "ratio", "goal", ""]
    body = [[r.bench, r.name, f"{fmt(r.value)} {r.unit}",
             f"{fmt(r.baseline)} ({r.baseline_name})" if r.baseline is not None else "-",
             f"{r.ratio:.2f}x" if r.ratio is not None else "-", r.goal, r.met] for r in rows]
    return [head, *body]


def print_table(rows: Sequence[Row]) -> None:
    cells = table(rows)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    for n, row in enumerate(cells):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def markdown_table(rows: Sequence[Row]) -> str:
    cells = table(rows)
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells[1:]]
    return "\n".join(lines)


# ---------------------------------------------------------------- SVG plots


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")
WIDTH, HEIGHT = 780, 360
LEFT, RIGHT, TOP, BOTTOM = 64, 270, 36, 48


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= step * m)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2, 5 times the powers of ten from below ``low`` to above ``high``."""
    ticks = []
    for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0**exponent for m in (1, 2, 5)]
    first = max(t for t in ticks if t <= low)
    last = min(t for t in ticks if t >= high)
    return [t for t in ticks if first <= t <= last]


def line_chart(title: str, series: Sequence[Series], x_label: str, y_label: str, *,
               limits: Iterable[tuple[float, str]] = (), y_max: float | None = None, log_x: bool = False) -> str:
    """A line chart (points marked) as a standalone SVG document; ``limits`` are horizontal goal lines; ``log_x``:
    a logarithmic x axis (a latency distribution's tail)."""
    limits = list(limits)
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points] + [y for y, _ in limits]
    x_ticks = log_ticks(max(min(xs), 1e-6), max(xs)) if log_x else nice_ticks(min(xs), max(xs))
    y_ticks = nice_ticks(0.0, y_max if y_max is not None else max(ys) * 1.05)
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        if log_x:
            return LEFT + (math.log10(max(x, x0)) - math.log10(x0)) / (math.log10(x1) - math.log10(x0)) * pw
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return TOP + ph - (y - y0) / (y1 - y0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2 - RIGHT / 2:.0f}" y="20" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for t in x_ticks:
        out.append(f'<line x1="{px(t):.1f}" y1="{TOP}" x2="{px(t):.1f}" y2="{TOP + ph}" stroke="#eee"/>')
        out.append(f'<text x="{px(t):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{t:g}</text>')
    for t in y_ticks:
        out.append(f'<line x1="{LEFT}" y1="{py(t):.1f}" x2="{LEFT + pw}" y2="{py(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{LEFT + pw / 2:.0f}" y="{HEIGHT - 10}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(16 {TOP + ph / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f'{escape(y_label)}</text>')
    legend_y = TOP + 8
    for y, label in limits:
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" y2="{py(y):.1f}" stroke="#888" '
                   f'stroke-dasharray="2 3"/>')
        out.append(f'<text x="{LEFT + pw - 4}" y="{py(y) - 4:.1f}" text-anchor="end" fill="#666">'
                   f'{escape(label)}</text>')
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(s.points))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        if len(s.points) <= 12:
            out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in s.points]
        out.append(f'<line x1="{LEFT + pw + 12}" y1="{legend_y}" x2="{LEFT + pw + 32}" y2="{legend_y}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{LEFT + pw + 36}" y="{legend_y + 4}">{escape(s.label)}</text>')
        legend_y += 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


def scale_plots(rows: Sequence[Row]) -> dict[str, str]:
    """LMS CPU and LMS + broker memory against agents, beside the broker alone (bench/lms_scale.py)."""
    plots = {}
    for series, title, unit in (("lms_cpu", "LMS CPU against agents", "cores"),
                                ("lms_memory", "LMS + broker memory against agents", "MB (peak RSS)")):
        chosen = sorted((r for r in rows if r.raw.get("series") == series), key=lambda r: r.raw.get("x", 0))
        if not chosen:
            continue
        lines = [Series(chosen[0].name.split(" at ")[0], [(r.raw["x"], r.value) for r in chosen])]
        if all(r.baseline is not None for r in chosen):
            lines.append(Series(f"{chosen[0].baseline_name} (baseline)",
                                [(r.raw["x"], float(r.baseline or 0)) for r in chosen], dashed=True))
        goal = chosen[0].max_value
        plots[f"{series}.svg"] = line_chart(title, lines, "simulated agents", unit,
                                            limits=[(goal, f"goal {goal:g}")] if goal else [])
    return plots


def rtt_plot(rows: Sequence[Row]) -> dict[str, str]:
    """The round trips' distributions (percentile against milliseconds) beside the raw echo (bench/rtt.py)."""
    chosen = [r for r in rows if r.raw.get("series") == "rtt" and r.raw.get("samples")]
    if not chosen:
        return {}
    lines = []
    for r in chosen:
        quantiles = r.raw["samples"]
        label = r.name.rsplit(": ", 1)[0]
        lines.append(Series(label[:44], [(q, float(i)) for i, q in enumerate(quantiles)],
                            dashed="echo" in label and "raw" in label))
    agents = chosen[0].raw.get("x")
    title = "Command round trip distribution" + (f", {agents:g} agents connected" if agents else "")
    return {"rtt.svg": line_chart(title, lines, "round trip (ms, logarithmic)", "percentile", y_max=100.0,
                                  log_x=True)}


def params_lines(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r.bench, r.raw)
    return [f"- `bench/{bench}.py` {json.dumps(raw.get('params', {}))} at {raw.get('at')}, {raw.get('cpus')} CPUs"
            for bench, raw in sorted(seen.items())]


def kept_dir(page: Path) -> Path:
    return page.parent / PLOT_DIR / KEPT_DIR


def keep(files: Iterable[Path], page: Path) -> None:
    """Copy the results the page shows beside it (see the module docstring); drop kept files of benches gone."""
    kept = kept_dir(page)
    kept.mkdir(parents=True, exist_ok=True)
    names = set()
    for path in files:
        names.add(path.name)
        if path.parent.resolve() != kept.resolve():
            (kept / path.name).write_bytes(path.read_bytes())
    for stale in kept.glob("*.jsonl"):
        if stale.name not in names:
            stale.unlink()


def write_page(rows: Sequence[Row], page: Path, note: str) -> None:
    plots = {**scale_plots(rows), **rtt_plot(rows)}
    plot_dir = page.parent / PLOT_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    for name, svg in plots.items():
        (plot_dir / name).write_text(svg, encoding="utf-8")
    parts = [
        "# Benchmarks",
        "",
        "The latest figures of every bench beside its baseline (measured in the same run) and its goal, written by "
        "`make bench-report` (`python bench/report.py --page docs/benchmarks.md`) from the results the benches "
        "left in `var/bench/` (`make bench` runs them all, at their default, full sizes, and ends with the same "
        "table). Plots are SVG drawn by `bench/report.py` itself. The results shown are kept in "
        "`docs/benchmarks/results/`: a bench not run again keeps its earlier rows (its parameters below say when "
        "it ran).",
        "",
    ]
    if note:
        parts += [f"> {note}", ""]
    parts += ["## Parameters of the runs shown", "", *params_lines(rows), "", "## Every figure", "",
              markdown_table(rows), ""]
    captions = {"lms_cpu.svg": "LMS CPU against agents (`bench/lms_scale.py`)",
                "lms_memory.svg": "LMS + broker memory against agents (`bench/lms_scale.py`)",
                "rtt.svg": "Round-trip distributions beside the raw QoS 1 echo (`bench/rtt.py`)"}
    if plots:
        parts += ["## Plots", ""]
        for name in plots:
            parts += [f"### {captions.get(name, name)}", "", f"![{captions.get(name, name)}]({PLOT_DIR}/{name})", ""]
    page.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {page.relative_to(ROOT) if page.is_relative_to(ROOT) else page} and {len(plots)} plot(s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=None, help="directory of the benches' JSON lines")
    ap.add_argument("--page", type=Path, default=None, help="also write this Markdown page (and its plots)")
    ap.add_argument("--note", default="", help="a line quoted at the top of the page (e.g. how the runs were made)")
    args = ap.parse_args()
    directory = args.results or results_dir()
    kept = kept_dir(args.page) if args.page else None
    rows = load(directory, kept)
    if not rows:
        print(f"no bench results in {directory} yet (run `make bench`)")
        return 0
    print(f"\nbench results ({directory}" + (f", else {kept}" if kept else "") + "):")
    print_table(rows)
    if args.page:
        write_page(rows, args.page, args.note)
        keep(result_files(directory, kept), args.page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
