"""A bounded worker pool: at most ``size`` jobs at once and no queue, so an overload is refused at once.

Slow commands (``exec``) run here rather than on the MQTT dispatcher thread, so ``ping`` and the settings
commands still answer while long commands run. A job submitted while all workers are busy raises
:class:`PoolFull` (the command is answered ``busy``) instead of waiting behind an unknown backlog.
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
    def __init__(self, size: int, name: str = "worker") -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)
        self._closed = False
        self._lock = threading.Lock()
        self._active = 0

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Start ``fn`` on a free worker, or raise :class:`PoolFull`."""
        with self._lock:
            if self._closed:
                raise PoolFull("the agent is stopping")
            if not self._slots.acquire(blocking=False):
                raise PoolFull(f"all {self.size} command slots are busy")
            self._active += 1

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
