"""The router's deadlines: one thread fires a callback for each key whose time has come (a heap and a condition
variable; no polling, no thread per command)."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: Deadlines are checked with this granularity, so that many commands cost few wake-ups.
DEADLINE_TICK_S = 0.02


class Deadlines:
    """One thread that fires callbacks at deadlines (a heap and a condition variable; no polling)."""

    def __init__(self, on_expire: Callable[[str], None]) -> None:
        self._on_expire = on_expire
        self._heap: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._worker = WorkerThread("lms-router-deadlines", self._run, wake=self._wake, join_timeout_s=5.0)

    def start(self) -> None:
        self._stopped = False
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()

    def _wake(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def add(self, when: float, key: str) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, key))
            if self._heap[0] == (when, key):  # a new earliest deadline: re-arm the wait
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        break
                    # coarse wake-ups: all deadlines due within a tick expire together
                    self._cond.wait(delay + DEADLINE_TICK_S)
                if self._stopped:
                    return
                now = time.monotonic()
                due: list[str] = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[1])
            for key in due:
                try:
                    self._on_expire(key)
                except Exception:
                    log.exception("router: deadline callback failed")
