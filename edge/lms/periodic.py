"""A background thread that runs one pass now and then every ``interval_s`` until stopped.

A failing pass (e.g. a database hiccup) is logged and tried again at the next interval; it never ends the thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, fn: Callable[[], object], interval_s: float) -> None:
        self._name = name
        self._fn = fn
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._fn()
            except Exception:
                log.exception("%s: pass failed; trying again in %g s", self._name, self._interval_s)
            self._stop.wait(self._interval_s)
