"""One background worker thread and how it stops: the one way a component of an edge process runs its own loop
(a queue worker, a pump) and ends it. Loops that only run something every N seconds use
:class:`shared.periodic.Periodic` instead.

``run`` is the loop; it ends when :attr:`WorkerThread.stopping` is set (check it, or wait on it). :meth:`stop` sets
it, calls ``wake`` — for a loop that blocks on something else (its queue, its own event) — then joins the thread
for at most ``join_timeout_s``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class WorkerThread:
    def __init__(
        self, name: str, run: Callable[[], object], *, wake: Callable[[], object] | None = None,
        join_timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self.name = name
        self._run = run
        self._wake = wake
        self.join_timeout_s = join_timeout_s
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> WorkerThread:
        self.stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end, wake it, and wait for it (at most ``join_timeout_s``)."""
        self.stopping.set()
        if self._wake is not None:
            self._wake()
        if self._thread is not None:
            self._thread.join(self.join_timeout_s)
            self._thread = None
