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

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, fn: Callable[[], object], interval_s: float, *, run_at_start: bool = True,
                 join_timeout_s: float = 10.0) -> None:
        self._name = name
        self._fn = fn
        self._interval_s = interval_s
        self._run_at_start = run_at_start
        self._join_timeout_s = join_timeout_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Periodic:
        if self._interval_s > 0 and self._thread is None:
            self._stop.clear()
            self._wake.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self

    def wake(self) -> None:
        """Run the next pass now (the thread is not started: nothing)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self._join_timeout_s)
            self._thread = None

    def _run(self) -> None:
        if not self._run_at_start:
            self._pause()
        while not self._stop.is_set():
            try:
                self._fn()
            except Exception:
                log.exception("%s: pass failed; trying again in %g s", self._name, self._interval_s)
            self._pause()

    def _pause(self) -> None:
        self._wake.wait(self._interval_s)
        self._wake.clear()
