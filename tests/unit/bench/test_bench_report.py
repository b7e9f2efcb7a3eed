"""The benches' results and the benchmark page (bench/_results.py, bench/report.py): each figure beside its baseline,
ratio and goal; a bench's new run replaces its old figures; the page's plots are well-formed SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import report
from bench._results import Figure, quantiles, write_results


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "results"
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(directory))
    return directory


def write_sample_runs() -> None:
    echo = [0.2 + i / 1000 for i in range(300)]
    write_results("rtt", [Figure("LMS ping: p50", 0.9, "ms", 0.3, "raw echo", max_ratio=2.0, x=1000, series="rtt",
                                 samples=[3 * v for v in echo]),
                          Figure("raw echo: p50", 0.3, "ms", x=1000, series="rtt", samples=echo)], params={"n": 300})
    write_results("lms_scale", [Figure(f"LMS CPU at {n} agents", n / 5000, "cores", 0.01, "broker alone",
                                       max_value=0.5, x=n, series="lms_cpu") for n in (1000, 2000, 4000)],
                  params={"agents": [1000, 2000, 4000]})


def test_each_figure_has_its_baseline_ratio_goal_and_verdict(results: Path) -> None:
    write_sample_runs()
    rows = {r.name: r for r in report.load(results)}
    ping = rows["LMS ping: p50"]
    assert ping.ratio == pytest.approx(3.0) and ping.goal == "<= 2x" and ping.met == "NOT met"
    assert rows["LMS CPU at 1000 agents"].met == "met" and rows["LMS CPU at 1000 agents"].goal == "<= 0.5 cores"
    assert rows["raw echo: p50"].ratio is None and rows["raw echo: p50"].met == ""
    line = json.loads((results / "rtt.jsonl").read_text().splitlines()[0])
    assert line["params"] == {"n": 300} and len(line["samples"]) == 101


def test_a_new_run_replaces_the_benchs_old_figures(results: Path) -> None:
    write_sample_runs()
    write_results("rtt", [Figure("LMS ping: p50", 0.5, "ms", 0.3, "raw echo", max_ratio=2.0)])
    rows = [r for r in report.load(results) if r.bench == "rtt"]
    assert [(r.name, r.value) for r in rows] == [("LMS ping: p50", 0.5)]


def test_the_page_holds_the_table_the_parameters_and_well_formed_plots(results: Path, tmp_path: Path) -> None:
    write_sample_runs()
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    report.write_page(report.load(results), page, "quick run, small parameters")
    text = page.read_text()
    assert "> quick run, small parameters" in text
    assert "| rtt | LMS ping: p50 | 0.9 ms | 0.3 (raw echo) | 3.00x | <= 2x | NOT met |" in text
    assert '`bench/lms_scale.py` {"agents": [1000, 2000, 4000]}' in text
    for name in ("rtt.svg", "lms_cpu.svg"):
        assert f"(benchmarks/{name})" in text
        root = ET.parse(page.parent / "benchmarks" / name).getroot()
        assert root.tag.endswith("svg") and root.findall(".//{http://www.w3.org/2000/svg}polyline")


def test_quantiles_keep_the_extremes() -> None:
    points = quantiles([5.0, 1.0, 3.0, 2.0, 4.0])
    assert len(points) == 101 and points[0] == 1.0 and points[-1] == 5.0 and points[50] == 3.0


def test_the_page_keeps_its_results_and_a_partial_rerun_replaces_only_the_benches_run_again(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sample_runs()
    page = tmp_path / "docs" / "benchmarks.md"
    page.parent.mkdir()
    monkeypatch.setattr("sys.argv", ["report.py", "--page", str(page)])
    assert report.main() == 0
    kept = page.parent / "benchmarks" / "results"
    assert sorted(p.name for p in kept.glob("*.jsonl")) == ["lms_scale.jsonl", "rtt.jsonl"]
    # a later session re-runs only the round trip, into a fresh results directory
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(fresh))
    write_results("rtt", [Figure("LMS ping: p50", 0.5, "ms", 0.3, "raw echo", max_ratio=2.0)])
    assert report.main() == 0
    text = page.read_text()
    assert "| rtt | LMS ping: p50 | 0.5 ms | 0.3 (raw echo) | 1.67x | <= 2x | met |" in text
    assert "0.9 ms" not in text  # the old round trip is gone
    assert "| lms_scale | LMS CPU at 4000 agents | 0.8 cores |" in text  # the bench not run again stays
    assert json.loads((kept / "rtt.jsonl").read_text().splitlines()[0])["value"] == 0.5
