"""Cheap psutil samples (``Metrics``), published every ``metrics_s`` and served by ``get_metrics``.

* ``cpu_percent`` is measured since the previous sample (the sampler primes psutil at creation, since the
  first ``cpu_percent(interval=None)`` is always 0.0);
* network rates are byte-counter deltas over the time between samples (``None`` on the first sample, and
  after a counter reset);
* disks: real mounted file systems only (``disk_partitions(all=False)`` minus pseudo and read-only image
  types), one entry per device, at most :data:`MAX_DISKS`;
* no process scan: ``process_count`` comes from listing ``/proc`` (cheap), not from ``process_iter``.
"""

from __future__ import annotations

import os
import threading
import time

import psutil

from edge.agent.config import SimulatedDiskSettings
from shared.messages.structs import DiskUsage, Metrics, build

MAX_DISKS = 16
_SKIP_FSTYPES = frozenset(
    {
        "squashfs",
        "tmpfs",
        "devtmpfs",
        "overlay",
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "iso9660",
        "udf",
        "nsfs",
        "tracefs",
        "debugfs",
        "autofs",
        "fuse.snapfuse",
        "ramfs",
    }
)


class MetricsSampler:
    """Takes :class:`Metrics` samples; safe to call from several threads."""

    def __init__(self, simulated_disk: SimulatedDiskSettings | None = None) -> None:
        self._simulated = simulated_disk
        self._lock = threading.Lock()
        psutil.cpu_percent(interval=None)  # prime: the first call always answers 0.0
        self._net_at = time.monotonic()
        self._net = self._net_counters()

    def sample(self) -> Metrics:
        with self._lock:
            cpu = psutil.cpu_percent(interval=None)
            mem = psutil.virtual_memory()
            rx, tx = self._net_rates()
        try:
            swap: float | None = psutil.swap_memory().percent
        except (OSError, RuntimeError):
            swap = None
        load: tuple[float, float, float] | None
        try:
            one, five, fifteen = psutil.getloadavg()
            load = (round(one, 3), round(five, 3), round(fifteen, 3))
        except (OSError, AttributeError):
            load = None
        now = time.time()
        return build(
            Metrics,
            timestamp=now,
            cpu_percent=min(100.0, max(0.0, cpu)),
            load=load,
            mem_total=mem.total,
            mem_used=mem.total - mem.available,
            mem_percent=min(100.0, max(0.0, mem.percent)),
            swap_percent=swap,
            disks=disks() + self._simulated_disk(),
            net_rx_bps=rx,
            net_tx_bps=tx,
            uptime_s=max(0.0, now - psutil.boot_time()),
            process_count=_process_count(),
        )

    def _simulated_disk(self) -> list[DiskUsage]:
        """The test-only ``[simulated_disk]``: its fullness from its file (nothing if unreadable)."""
        sim = self._simulated
        if sim is None:
            return []
        try:
            percent = float(sim.percent_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return []
        if not 0 <= percent <= 100:
            return []
        return [build(DiskUsage, mount="/simulated", total=sim.total_bytes, used=int(sim.total_bytes * percent / 100),
                          percent=percent)]  # fmt: skip

    @staticmethod
    def _net_counters() -> tuple[int, int] | None:
        try:
            counters = psutil.net_io_counters()
        except (OSError, RuntimeError):
            return None
        if counters is None:
            return None
        return counters.bytes_recv, counters.bytes_sent

    def _net_rates(self) -> tuple[float | None, float | None]:
        now = time.monotonic()
        current = self._net_counters()
        previous, elapsed = self._net, now - self._net_at
        self._net, self._net_at = current, now
        return counter_rates(previous, current, elapsed)


def counter_rates(
    previous: tuple[int, int] | None, current: tuple[int, int] | None, elapsed_s: float
) -> tuple[float | None, float | None]:
    """Receive and transmit rates (bytes/s) from two readings of the byte counters ``elapsed_s`` apart. No rate
    (``None``, not 0) without both readings, over a too short interval, or when a counter went down: a reboot or a
    vanished interface resets the counters, and a negative delta is not a rate."""
    if current is None or previous is None or elapsed_s <= 0.05:
        return None, None
    drx, dtx = current[0] - previous[0], current[1] - previous[1]
    if drx < 0 or dtx < 0:
        return None, None
    return round(drx / elapsed_s, 1), round(dtx / elapsed_s, 1)


def disks() -> list[DiskUsage]:
    """Usage of real mounted file systems, one per device, bounded."""
    result: list[DiskUsage] = []
    seen: set[str] = set()
    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError:
        return result
    for part in partitions:
        if part.fstype in _SKIP_FSTYPES or part.device in seen or part.mountpoint.startswith(("/snap/", "/proc")):
            continue
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        seen.add(part.device)
        result.append(
            build(
                DiskUsage,
                mount=part.mountpoint[:512],
                total=usage.total,
                used=usage.used,
                percent=min(100.0, max(0.0, usage.percent)),
            )
        )
        if len(result) >= MAX_DISKS:
            break
    return result


def _process_count() -> int | None:
    try:
        return sum(1 for name in os.listdir("/proc") if name.isdigit())
    except OSError:
        return None
