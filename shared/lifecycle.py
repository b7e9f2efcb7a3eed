"""How a long-running edge process starts and stops: the one way both the agent and the LMS do it.

Start-up is a readable list of ``start_*`` steps (:meth:`Lifecycle.start`); each step that starts something
registers how to undo it (:meth:`Lifecycle.on_stop`); :meth:`Lifecycle.stop` undoes everything in reverse order
(logging, not raising, what fails to stop), also after a step failed half-way. The process's ``__main__`` owns
the stop event; SIGTERM and SIGINT set it (a second one exits at once), and it shortens the GIL switch interval
(:func:`shorten_gil_switch_interval`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger(__name__)

#: See :func:`shorten_gil_switch_interval`.
GIL_SWITCH_INTERVAL_S = 0.0005


def shorten_gil_switch_interval() -> None:
    """Both edge processes answer commands on their MQTT network thread (the agent its quick reads, the LMS the
    responses it matches) while other threads (a sampler, a camera, a burst of heartbeats) compete for the GIL:
    with the default 5 ms switch interval an answer could wait that long, which shows in a command's round trip.
    0.5 ms bounds that wait (measured: bench/rtt.py p99)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class Lifecycle:
    def __init__(self, stop_event: threading.Event | None = None) -> None:
        self.stop_event = stop_event or threading.Event()
        #: the step being run (for "start-up failed in ..." messages)
        self.current = ""
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def on_stop(self, what: str, undo: Callable[[], object]) -> None:
        """Undo ``what`` at :meth:`stop` (after everything registered later)."""
        self._undo.append((what, undo))

    def start(self, steps: Sequence[Callable[[], object]]) -> None:
        """Run the steps in order; an exception ends start-up there (the caller then calls :meth:`stop`)."""
        for step in steps:
            self.current = step.__name__
            step()
        self.current = ""

    def stop(self) -> None:
        """Undo what was started, the last first."""
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception:
                log.exception("error while stopping the %s", what)
            else:
                log.debug("stopped the %s", what)

    def install_signal_handlers(self, *, exit_code_on_second: int = 1) -> None:
        """SIGTERM/SIGINT set :attr:`stop_event`; a second one while stopping exits at once."""

        def handle(signum: int, _frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if self.stop_event.is_set():
                log.warning("second %s: exiting now", name)
                os._exit(exit_code_on_second)
            log.info("received %s", name)
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
