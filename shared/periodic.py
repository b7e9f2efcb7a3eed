"""A background thread that runs one pass every ``interval_s`` until stopped: the one way the system runs
something periodically (the agent's heartbeat, metrics and process samples; the LMS's snapshots, rollups and
certificate renewal).

With ``run_at_start`` the first pass runs at once, else after the first interval. :meth:`wake` runs the next pass
now (on a change, on a connect) instead of at the end of the interval; the interval then starts again. A failing
pass is logged and tried again at the next interval; it never ends the thread. ``interval_s`` 0 or less:
:meth:`start` starts nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, fn: Callable[[], object], interval_s: float, *, run_at_start: bool = True,
                 join_timeout_s: float = 10.0) -> None:
        self._name = name
        self._fn = fn
        self._interval_s = interval_s
        self._run_at_start = run_at_start
        self._wake = threading.Event()
        self._worker = WorkerThread(name, self._run, wake=self._wake.set, join_timeout_s=join_timeout_s)

    @property
    def running(self) -> bool:
        return self._worker.running

    def start(self) -> Periodic:
        if self._interval_s > 0 and not self._worker.running:
            self._wake.clear()
            self._worker.start()
        return self

    def wake(self) -> None:
        """Run the next pass now (the thread is not started: nothing)."""
        self._wake.set()

    def stop(self) -> None:
        self._worker.stop()

    def _run(self) -> None:
        if not self._run_at_start:
            self._pause()
        while not self._worker.stopping.is_set():
            try:
                self._fn()
            except Exception:
                log.exception("%s: pass failed; trying again in %g s", self._name, self._interval_s)
            self._pause()

    def _pause(self) -> None:
        self._wake.wait(self._interval_s)
        self._wake.clear()
