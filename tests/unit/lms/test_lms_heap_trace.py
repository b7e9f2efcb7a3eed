"""The LMS's opt-in tracemalloc snapshots (edge.lms.heap_trace): off without the variable, snapshots at the asked
minutes with a summary line each (or pymalloc's statistics without tracing), a comparison grouped by traceback,
clear errors for malformed variables."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from edge.lms import heap_trace
from edge.lms.heap_trace import HeapTrace, HeapTraceError, compare, pymalloc_figures, start_from_env, table

REPO = Path(__file__).resolve().parents[3]


def test_off_without_the_variable() -> None:
    assert HeapTrace.from_env({}) is None
    assert HeapTrace.from_env({heap_trace.ENV_AT: "1,2"}) is None
    assert start_from_env({}) is None
    assert not tracemalloc.is_tracing()


def test_the_variables_are_parsed() -> None:
    trace = HeapTrace.from_env({heap_trace.ENV_DIR: "/x", heap_trace.ENV_AT: " 20, 5,", heap_trace.ENV_FRAMES: "3"})
    assert trace == HeapTrace(Path("/x"), (5.0, 20.0), 3)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        (heap_trace.ENV_AT, "5,ten", heap_trace.ENV_AT),
        (heap_trace.ENV_AT, "-1", heap_trace.ENV_AT),
        (heap_trace.ENV_FRAMES, "many", heap_trace.ENV_FRAMES),
        (heap_trace.ENV_FRAMES, "101", heap_trace.ENV_FRAMES),
    ],
)
def test_malformed_variables_are_refused(variable: str, value: str, named: str) -> None:
    with pytest.raises(HeapTraceError, match=named):
        HeapTrace.from_env({heap_trace.ENV_DIR: "/x", variable: value})


def test_snapshots_at_the_minutes_and_a_comparison_by_traceback(tmp_path: Path) -> None:
    trace = HeapTrace(tmp_path / "tm", (0.0,), 4)
    try:
        trace.start().join(30)
        kept = [bytearray(1000) for _ in range(500)]  # the growth the comparison must find
        trace.write(0.5)
    finally:
        tracemalloc.stop()
    lines = [json.loads(line) for line in (tmp_path / "tm" / "summary.jsonl").read_text().splitlines()]
    assert [line["minute"] for line in lines] == [0.0, 0.5]
    assert lines[1]["traced"] > lines[0]["traced"] + 400_000
    first, second = (tmp_path / "tm" / line["snapshot"] for line in lines)
    report = compare(first, second, top=3)
    assert "test_lms_heap_trace.py" in "\n".join(report[1:4])  # the biggest growth is the list above
    assert len(kept) == 500


def test_without_frames_pymalloc_statistics_instead_of_tracing(tmp_path: Path) -> None:
    trace = HeapTrace.from_env({heap_trace.ENV_DIR: str(tmp_path), heap_trace.ENV_AT: "0", heap_trace.ENV_FRAMES: "0"})
    assert trace is not None
    sqlite3.connect(":memory:").execute("SELECT 1")  # the library loaded, as in the LMS
    trace.start().join(30)
    assert not tracemalloc.is_tracing()
    (line,) = (json.loads(line) for line in (tmp_path / "summary.jsonl").read_text().splitlines())
    assert line["snapshot"].endswith(".pymalloc.txt") and line["rss"] > 0
    figures = pymalloc_figures((tmp_path / line["snapshot"]).read_text())
    assert set(figures) == {"arenas", "arenas MiB", "in blocks MiB", "free blocks MiB", "free pools MiB"}
    assert figures["arenas"] >= 1 and 0 < figures["in blocks MiB"] <= figures["arenas MiB"]
    header, row = table(tmp_path)
    assert header.split()[:2] == ["minute", "RSS"] and len(row.split()) == 13  # every column filled
    assert line["malloc"]["system"] > 0 and line["sqlite"] >= 0  # glibc's and SQLite's own counts beside


def test_the_lms_refuses_malformed_variables_before_anything_else(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), heap_trace.ENV_DIR: str(tmp_path), heap_trace.ENV_AT: "x"}
    done = subprocess.run(
        [sys.executable, "-m", "edge.lms", "--config", str(tmp_path / "missing.toml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert heap_trace.ENV_AT in done.stderr
    assert not any(tmp_path.iterdir())
