"""The faults of a chaos run (:data:`tests.chaos.options.FAULT_KINDS`): ``kill -9`` of the LMS, of an agent while
one of its ``exec`` commands runs, of the site broker, of the IoT Core stand-in; a cloud link cut (the relay between
the LMS and the stand-in cut for ``link_cut_s``: infra/local/link_proxy.py); the LMS's disk full (a file fills the
LMS's own small filesystem — tests/chaos/twin.py — for ``disk_full_s``, then is deleted); a clock jump (the wall
clock of the LMS, of an agent or of both stepped an hour forward or back for ``clock_jump_s``, then right again:
infra/local/clock_shift); a slow link (the relay delays every chunk and "loses" some, i.e. retransmits them late,
for ``slow_link_s``). The twin's supervisor restarts what was killed (infra/local/supervisor.py); the harness waits
for the restart and for the system to be whole again, and times it (from the injection; for the faults that last a
while, from their end).

Each fault's method on :class:`FaultInjector` (named after its kind) injects it and returns its recovery check.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra.local.link_proxy import LinkShape
from infra.local.twin import Twin
from tests.chaos.options import ChaosOptions

#: the faults that last a while: their recovery is timed from their end
LASTING = frozenset({"cloud_link_cut", "disk_full", "clock_jump", "slow_link"})
FILL_FILE = "chaos-fill"


class RecoveryTimeout(AssertionError):
    """A fault the system did not heal from within ``recover_timeout_s``."""


class FaultInjector:
    """Injects the faults into ``twin`` (which, when and how long drawn from ``rng``, the run's own generator) and
    checks that the system healed; what a fault showed on its way goes to ``notes``."""

    def __init__(self, twin: Twin, options: ChaosOptions, rng: random.Random, runs_dir: Path, notes: list[str]) -> None:
        self.twin = twin
        self.opt = options
        self.rng = rng
        self.runs_dir = runs_dir
        self.notes = notes

    # ------------------------------------------------------------ faults (each returns its recovery check)

    def _restarted(self, part: str) -> Callable[[], bool]:
        """A check that the supervisor restarted ``part`` since now (a kill is not healed before that)."""
        before = self.twin.supervisor.restarts(part)
        return lambda: self.twin.supervisor.restarts(part) > before

    def lms_kill(self) -> Callable[[], bool]:
        assert self.twin.lms is not None
        restarted = self._restarted("LMS")
        self.twin.lms.kill(signal.SIGKILL)
        return lambda: restarted() and self._lms_whole()

    def agent_kill_mid_exec(self) -> Callable[[], bool]:
        agent_id = self.rng.choice(list(self.twin.agents))
        runs = self.runs_dir / f"{agent_id}.log"
        before = _size(runs)
        deadline = time.monotonic() + 10
        while _size(runs) == before and time.monotonic() < deadline:  # one of its exec commands has just started
            time.sleep(0.02)
        restarted = self._restarted(f"agent {agent_id}")
        self.twin.agents[agent_id].kill(signal.SIGKILL)
        return lambda: restarted() and self._agent_alive(agent_id) and self._online_at_lms({agent_id})

    def site_broker_kill(self) -> Callable[[], bool]:
        assert self.twin.site_broker is not None and self.twin.site_broker.pid is not None
        restarted = self._restarted("site broker")
        os.kill(self.twin.site_broker.pid, signal.SIGKILL)
        return lambda: restarted() and self._lms_whole()

    def iot_core_kill(self) -> Callable[[], bool]:
        assert self.twin.cloud_broker is not None and self.twin.cloud_broker.pid is not None
        restarted = self._restarted("IoT Core stand-in")
        os.kill(self.twin.cloud_broker.pid, signal.SIGKILL)
        return lambda: restarted() and self._lms_whole()

    def cloud_link_cut(self) -> Callable[[], bool]:
        """The site's uplink is cut (the relay between the LMS and the stand-in); IoT Core keeps running."""
        proxy = self.twin.link_proxy
        assert proxy is not None, "the chaos twin relays the cloud link (TwinOptions.cloud_link_proxy)"
        proxy.cut()
        time.sleep(self.rng.uniform(*self.opt.link_cut_s))
        proxy.restore()
        return self._lms_whole

    def disk_full(self) -> Callable[[], bool]:
        """The LMS's filesystem filled to the last byte while the workload writes; then the filler is deleted.
        Recovered: the LMS whole and its database taking writes again (``GET /api/health``'s ``store``)."""
        fill = self.twin.lms_dir / FILL_FILE
        _fill(fill)
        started = time.monotonic()
        hold_until = started + self.rng.uniform(*self.opt.disk_full_s)
        refused = False
        # full for the time drawn, and on until the LMS has had to refuse a write (its WAL had room left)
        while time.monotonic() < hold_until or (not refused and time.monotonic() < started + self.opt.disk_full_max_s):
            store = quiet_value(lambda: self.twin.lms_api("/api/health")["data"].get("store")) or {}
            refused = refused or store.get("writable") is False
            time.sleep(0.2)
        fill.unlink()
        self.notes.append(f"disk_full {time.monotonic() - started:.1f} s: the LMS's health said its database "
                          f"refused writes: {'yes' if refused else 'no'}")
        return lambda: self._lms_whole() and self._store_writable()

    def clock_jump(self) -> Callable[[], bool]:
        """The wall clock of the LMS, an agent or both stepped an hour forward or back, then right again."""
        agent_id = self.rng.choice(list(self.twin.agents))
        parts = self.rng.choice((["lms"], [agent_id], ["lms", agent_id]))
        by = self.rng.choice((1.0, -1.0)) * self.opt.clock_jump_by_s
        for part in parts:
            self.twin.shift_clock(part, by)
        time.sleep(self.rng.uniform(*self.opt.clock_jump_s))
        for part in parts:
            self.twin.shift_clock(part, 0.0)
        self.notes.append(f"clock_jump {'+' if by > 0 else ''}{by:g} s on {', '.join(parts)}")
        return self._lms_whole

    def slow_link(self) -> Callable[[], bool]:
        """The site's uplink slow and lossy (the relay delays each chunk, retransmits some late), then well."""
        proxy = self.twin.link_proxy
        assert proxy is not None, "the chaos twin relays the cloud link (TwinOptions.cloud_link_proxy)"
        shape = LinkShape(delay_s=self.rng.uniform(*self.opt.slow_delay_s), loss=self.rng.uniform(*self.opt.slow_loss))
        proxy.shape(shape)
        time.sleep(self.rng.uniform(*self.opt.slow_link_s))
        proxy.unshape()
        return self._lms_whole

    # ------------------------------------------------------------ recovery checks

    def _lms_whole(self) -> bool:
        """The LMS answers, is connected to the site broker and the cloud, and sees every agent online."""
        health = self.twin.lms_api("/api/health")["data"]
        cloud = health.get("cloud") or {}
        return bool(health["site_broker"]["connected"] and cloud.get("connected")
                    and self._online_at_lms(set(self.twin.agents)))

    def _store_writable(self) -> bool:
        return bool(self.twin.lms_api("/api/health")["data"]["store"]["writable"])

    def _online_at_lms(self, agent_ids: set[str]) -> bool:
        online = self.twin.lms_api("/api/clients/online", self.twin.lms_token)
        return agent_ids <= {c["uuid"] for c in _items(online)}

    def _agent_alive(self, agent_id: str) -> bool:
        return self.twin.agents[agent_id].alive


def quiet(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (OSError, KeyError, TypeError, ValueError):  # the LMS restarting: connection refused, no data yet
        return False


def quiet_value(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _fill(path: Any) -> None:
    """Write ``path`` until its filesystem is full (ENOSPC)."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 16 or 1]


def _size(path: Any) -> int:
    try:
        return int(path.stat().st_size)
    except OSError:
        return 0


def _items(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else body
    if isinstance(data, dict):
        data = data.get("items") or data.get("clients") or []
    return data if isinstance(data, list) else []
