"""Opt-in ``tracemalloc`` snapshots of a running LMS, to find what makes its Python heap grow (the soak's method).

Off unless the environment names a directory: ``CLASSTOP_LMS_TRACEMALLOC=DIR`` starts ``tracemalloc`` as the
process starts (``python -m edge.lms``) with ``CLASSTOP_LMS_TRACEMALLOC_FRAMES`` (8) frames per allocation, and a
daemon thread writes a snapshot at each of the minutes (since start) listed in ``CLASSTOP_LMS_TRACEMALLOC_AT``
(comma-separated, e.g. ``5,20,35``) to ``DIR/lms-<minutes>min.tracemalloc``, after a full garbage collection, and
appends a line to ``DIR/summary.jsonl``: the minute, what ``tracemalloc`` traces, the process's RSS, the
interpreter's allocated blocks, what glibc's malloc took and holds free (:func:`shared.c_heap.usage`), what SQLite
holds (``sqlite3_memory_used``). With ``CLASSTOP_LMS_TRACEMALLOC_FRAMES=0`` nothing is traced and each snapshot is
pymalloc's own statistics instead, ``DIR/lms-<minutes>min.pymalloc.txt`` (``sys._debugmallocstats``: its arenas,
pools and free blocks per size class; tracing hides them, as its hooks replace pymalloc's): live objects and
fragmentation told apart, and the RSS as the soak measures it. Without the variable nothing is started: no cost.

Comparing two snapshots, grouped by traceback (the biggest growth first), and a table of a directory's (the RSS,
the traced bytes, pymalloc's arenas and free bytes, malloc's and SQLite's bytes at each minute)::

    python -m edge.lms.heap_trace DIR/lms-0010.00min.tracemalloc DIR/lms-0040.00min.tracemalloc [--top 25] [--frames 8]
    python -m edge.lms.heap_trace DIR

Tracing slows the process and costs memory of its own (``tracemalloc``'s tables are not in the traces, but they
are in the RSS): a run with it measures where the Python heap grows, not the RSS slope the soak judges.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import logging
import os
import re
import sys
import threading
import time
import tracemalloc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared import c_heap

log = logging.getLogger("edge.lms.heap_trace")

ENV_DIR = "CLASSTOP_LMS_TRACEMALLOC"
ENV_AT = "CLASSTOP_LMS_TRACEMALLOC_AT"
ENV_FRAMES = "CLASSTOP_LMS_TRACEMALLOC_FRAMES"
DEFAULT_FRAMES = 8


class HeapTraceError(ValueError):
    """The tracing variables are malformed (the message names the variable)."""


@dataclass(frozen=True)
class HeapTrace:
    """Where and when to write snapshots."""

    directory: Path
    minutes: tuple[float, ...]
    frames: int = DEFAULT_FRAMES

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HeapTrace | None:
        """The tracing the environment asks for, ``None`` when it asks for none."""
        directory = environ.get(ENV_DIR, "")
        if not directory:
            return None
        try:
            minutes = tuple(sorted(float(m) for m in environ.get(ENV_AT, "").split(",") if m.strip()))
        except ValueError:
            raise HeapTraceError(f"{ENV_AT}: comma-separated minutes, not {environ.get(ENV_AT)!r}") from None
        if any(m < 0 for m in minutes):
            raise HeapTraceError(f"{ENV_AT}: minutes since start cannot be negative")
        try:
            frames = int(environ.get(ENV_FRAMES, DEFAULT_FRAMES))
        except ValueError:
            raise HeapTraceError(f"{ENV_FRAMES}: a whole number of frames") from None
        if not 0 <= frames <= 100:
            raise HeapTraceError(f"{ENV_FRAMES}: between 0 and 100 frames")
        return cls(Path(directory), minutes, frames)

    def start(self) -> threading.Thread:
        """Start tracing now and the thread that writes the snapshots at their minutes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.frames:
            tracemalloc.start(self.frames)
        t0 = time.monotonic()
        thread = threading.Thread(target=self._run, args=(t0,), name="heap-trace", daemon=True)
        thread.start()
        what = f"tracemalloc on ({self.frames} frames)" if self.frames else "pymalloc statistics (no tracing)"
        log.warning("%s: snapshots at %s min into %s", what, ",".join(f"{m:g}" for m in self.minutes), self.directory)
        return thread

    def _run(self, t0: float) -> None:
        for minute in self.minutes:
            delay = t0 + minute * 60 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.write(minute)

    def write(self, minute: float) -> Path:
        """One snapshot (after a full collection) and its summary line."""
        gc.collect()
        path = self.directory / f"lms-{minute:07.2f}min.tracemalloc"
        if tracemalloc.is_tracing():
            partial = path.with_suffix(".part")  # complete or absent: a reader may be waiting for it
            tracemalloc.take_snapshot().dump(str(partial))
            os.replace(partial, path)
        else:
            _pymalloc_stats(path.with_suffix(".pymalloc.txt"))
        traced, peak = tracemalloc.get_traced_memory()
        line = {
            "minute": minute, "traced": traced, "traced_peak": peak, "rss": _rss(),
            "allocated_blocks": sys.getallocatedblocks(), "gc_objects": len(gc.get_objects()),
            "malloc": c_heap.usage(), "sqlite": _sqlite_memory_used(),
            "snapshot": path.name if tracemalloc.is_tracing() else path.with_suffix(".pymalloc.txt").name,
        }  # fmt: skip
        with (self.directory / "summary.jsonl").open("a") as out:
            out.write(json.dumps(line) + "\n")
        return path


def _pymalloc_stats(path: Path) -> None:
    """``sys._debugmallocstats()`` (pymalloc's arenas, pools and free blocks per size class: how fragmented Python's
    heap is) into ``path``. It writes to the C ``stderr``, which is pointed at the file meanwhile: a log line another
    thread writes in those milliseconds lands there too."""
    if not hasattr(sys, "_debugmallocstats"):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("w") as out:
            os.dup2(out.fileno(), 2)
            try:
                sys._debugmallocstats()
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _sqlite_memory_used() -> int | None:
    """SQLite's own count of the memory it holds (``sqlite3_memory_used``: the page caches, prepared statements) in
    the library this process loaded, ``None`` when it cannot be asked."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "/libsqlite3" in line}
    if len(paths) != 1:
        return None
    try:
        library = ctypes.CDLL(paths.pop())  # the copy already loaded (by _sqlite3): the same counters
    except OSError:
        return None
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return int(library.sqlite3_memory_used())


def _rss() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def start_from_env(environ: Mapping[str, str] = os.environ) -> HeapTrace | None:
    """``python -m edge.lms``'s hook: start the tracing the environment asks for (none: nothing happens)."""
    trace = HeapTrace.from_env(environ)
    if trace is not None:
        trace.start()
    return trace


def compare(old: Path, new: Path, *, top: int = 25, frames: int = DEFAULT_FRAMES) -> list[str]:
    """The biggest growths from ``old`` to ``new``, grouped by traceback (``frames`` innermost frames shown)."""
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    ]
    before = tracemalloc.Snapshot.load(str(old)).filter_traces(ignore)
    after = tracemalloc.Snapshot.load(str(new)).filter_traces(ignore)
    diffs = after.compare_to(before, "traceback")
    total = sum(d.size_diff for d in diffs)
    lines = [f"{new.name} - {old.name}: {total / 1024:+.1f} KiB in all, {len(diffs)} tracebacks"]
    for diff in diffs[:top]:
        lines.append(f"{diff.size_diff / 1024:+9.1f} KiB {diff.count_diff:+7d} blocks (now {diff.size / 1024:.1f} KiB)")
        lines.extend(f"      {line}" for line in diff.traceback.format(limit=frames, most_recent_first=True))
    return lines


#: pymalloc's statistics read into the table: column -> the line of ``sys._debugmallocstats`` that holds it
_PYMALLOC = {
    "arenas": "# arenas allocated current",
    "arenas MiB": "arenas * 1048576 bytes/arena",
    "in blocks MiB": "# bytes in allocated blocks",
    "free blocks MiB": "# bytes in available blocks",
    "free pools MiB": "unused pools * ",
}


def pymalloc_figures(text: str) -> dict[str, int]:
    """The :data:`_PYMALLOC` figures (bytes; a count for ``arenas``) of one ``sys._debugmallocstats`` output."""
    out: dict[str, int] = {}
    for column, label in _PYMALLOC.items():
        match = re.search(rf"^.*{re.escape(label)}.*=\s+([\d,]+)$", text, re.MULTILINE)
        if match:
            out[column] = int(match.group(1).replace(",", ""))
    return out


def table(directory: Path) -> list[str]:
    """One line per snapshot in ``directory``: the minute, RSS, the interpreter's blocks, what tracemalloc traced,
    and pymalloc's arenas, the bytes in its live blocks and the free bytes it keeps (where they were written)."""
    columns = ["minute", "RSS MiB", "blocks", "traced MiB", *_PYMALLOC, "malloc MiB", "malloc free MiB", "mmap MiB",
               "SQLite MiB"]  # fmt: skip
    lines = ["  ".join(f"{c:>15}" for c in columns)]
    for raw in (directory / "summary.jsonl").read_text().splitlines():
        line = json.loads(raw)
        figures = {"minute": line["minute"], "RSS MiB": (line["rss"] or 0) / 2**20, "blocks": line["allocated_blocks"],
                   "traced MiB": line["traced"] / 2**20}  # fmt: skip
        malloc = line.get("malloc") or {}
        for column, key in (("malloc MiB", "system"), ("malloc free MiB", "free"), ("mmap MiB", "mmap")):
            if key in malloc:
                figures[column] = malloc[key] / 2**20
        if line.get("sqlite") is not None:
            figures["SQLite MiB"] = line["sqlite"] / 2**20
        stats = directory / line["snapshot"]
        if stats.name.endswith(".pymalloc.txt") and stats.is_file():
            mine = pymalloc_figures(stats.read_text())
            figures.update({c: v if c == "arenas" else v / 2**20 for c, v in mine.items()})
        lines.append("  ".join(f"{figures[c]:>15.2f}" if c in figures else f"{'':>15}" for c in columns))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="an LMS's snapshots: a table of one directory, or two snapshots "
                                             "compared, grouped by traceback")  # fmt: skip
    ap.add_argument("old", type=Path, help="a snapshot, or the directory of snapshots (a table)")
    ap.add_argument("new", type=Path, nargs="?")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    args = ap.parse_args(argv)
    if args.new is None:
        print("\n".join(table(args.old)))
    else:
        print("\n".join(compare(args.old, args.new, top=args.top, frames=args.frames)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
