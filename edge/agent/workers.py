"""A bounded worker pool: at most ``size`` jobs at once plus at most ``queue_size`` waiting for a worker.

Slow commands (``exec``) run here rather than on the MQTT dispatcher thread, so ``ping`` and the settings
commands still answer while long commands run. A job submitted while all workers are busy waits (the
command is ``queued``) if the bounded queue has room; otherwise it raises :class:`PoolFull` (the command is
answered ``busy``) instead of waiting behind an unknown backlog. The default queue size is 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class PoolFull(Exception):
    """Every worker is busy (or the pool is closed)."""


class WorkerPool:
    def __init__(self, size: int, name: str = "worker", queue_size: int = 0) -> None:
        self.size = size
        self.queue_size = queue_size
        self._slots = threading.BoundedSemaphore(size + queue_size)
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._closed = False
        self._lock = threading.Lock()
        self._active = 0

    def submit(self, fn: Callable[[], T], on_queued: Callable[[], None] | None = None) -> Future[T]:
        """Start ``fn`` on a free worker, or queue it (calling ``on_queued`` first), or raise :class:`PoolFull`.

        Jobs run in submission order, so a job is queued exactly when ``size`` accepted jobs are unfinished.
        """
        with self._lock:
            if self._closed:
                raise PoolFull("the agent is stopping")
            if not self._slots.acquire(blocking=False):
                waiting = f" and {self.queue_size} queue places" if self.queue_size else ""
                raise PoolFull(f"all {self.size} command slots{waiting} are busy")
            queued = self._active >= self.size
            self._active += 1
        if queued and on_queued is not None:
            on_queued()

        def job() -> T:
            try:
                return fn()
            finally:
                with self._lock:
                    self._active -= 1
                self._slots.release()

        try:
            return self._executor.submit(job)
        except RuntimeError:  # executor shut down between the check and the submit
            with self._lock:
                self._active -= 1
            self._slots.release()
            raise PoolFull("the agent is stopping") from None

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def close(self, wait: bool = True) -> None:
        """Refuse new jobs; with ``wait``, let the running ones finish."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)
