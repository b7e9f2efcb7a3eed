"""The expensive sample: the process list (a full ``/proc`` scan, milliseconds), taken rarely.

Served by ``get_processes`` and published every ``[processes] interval_s`` (default 600 s; 0 = only on
request) as ``Event(kind="processes")``. The answer lists the top ``N`` processes by CPU and the top ``N`` by
resident memory: ``{"timestamp", "count", "by_cpu": [...], "by_memory": [...]}``, each process
``{pid, name, user, cpu_percent, rss, memory_percent, status, started}``. CPU percentages are measured since
the previous scan (the first scan primes them; psutil reports 0.0 for a process it sees for the first time).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

_ATTRS = ["pid", "name", "username", "cpu_percent", "memory_info", "memory_percent", "status", "create_time"]


class ProcessSampler:
    """Scans processes; safe to call from several threads (one scan at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._primed = False

    def sample(self, top: int = 15) -> dict[str, Any]:
        with self._lock:
            if not self._primed:  # cpu_percent needs a previous reading per process
                for _ in psutil.process_iter(["cpu_percent"]):
                    pass
                self._primed = True
                time.sleep(0.1)
            rows = [r for r in (_row(p.info) for p in psutil.process_iter(_ATTRS)) if r is not None]
        by_cpu = sorted(rows, key=lambda r: (r["cpu_percent"], r["rss"]), reverse=True)[:top]
        by_memory = sorted(rows, key=lambda r: r["rss"], reverse=True)[:top]
        return {"timestamp": time.time(), "count": len(rows), "by_cpu": by_cpu, "by_memory": by_memory}


def _row(info: dict[str, Any]) -> dict[str, Any] | None:
    if info.get("pid") is None:
        return None
    mem = info.get("memory_info")
    return {
        "pid": info["pid"],
        "name": (info.get("name") or "")[:128],
        "user": (info.get("username") or "")[:64],
        "cpu_percent": round(float(info.get("cpu_percent") or 0.0), 1),
        "rss": int(getattr(mem, "rss", 0) or 0),
        "memory_percent": round(float(info.get("memory_percent") or 0.0), 2),
        "status": info.get("status") or "",
        "started": info.get("create_time"),
    }
