"""One writer thread that drains a queue in batches ("group commit"), shared by the LMS's journals.

Items are put from any thread and never wait on disk I/O. After the first item of a round the thread waits
``delay_s`` for more (cut short by :meth:`Batcher.flush`, :meth:`Batcher.wake` or :meth:`Batcher.stop`), then
hands everything queued so far to ``handle`` in one call — one wake-up and one transaction per batch, not per
item. :meth:`Batcher.stop` handles what is left before the thread ends.

The queue is bounded: with ``max_items`` items waiting (the disk far behind, or a producer out of control),
:meth:`Batcher.put` drops the item, counts it in ``dropped`` and says so in the log (once per run of drops).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Flush:
    done: threading.Event


_STOP = object()
_WAKE = object()
#: Items waiting at most, unless a user says otherwise (far beyond any normal backlog).
DEFAULT_MAX_ITEMS = 100_000


class Batcher(Generic[T]):
    """``handle(batch)`` runs on the thread once per round, with the items queued since the last round (the
    batch may be empty when the round was started by :meth:`wake` or :meth:`flush`); with ``max_batch``, a round's
    items are handed over in batches of at most that many (e.g. rows per transaction)."""

    def __init__(
        self, name: str, handle: Callable[[list[T]], None], *, delay_s: float, max_items: int = DEFAULT_MAX_ITEMS,
        max_batch: int | None = None,
    ) -> None:  # fmt: skip
        self._name = name
        self._max_batch = max_batch
        self._handle = handle
        self._delay_s = delay_s
        self._max_items = max_items
        self._queue: queue.Queue[object] = queue.Queue()  # items and markers; the items are counted
        self._count_lock = threading.Lock()
        self._waiting = 0
        self._dropping = False
        self._urgent = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread is not None:
            self._signal(_STOP)
            self._thread.join(timeout_s)
            self._thread = None

    def put(self, item: T) -> bool:
        """Queue an item; ``False`` (and the item dropped) when ``max_items`` are already waiting."""
        with self._count_lock:
            if self._waiting < self._max_items:
                self._waiting += 1
                self._dropping = False
                self._queue.put(item)
                return True
            self.dropped += 1
            first, self._dropping = not self._dropping, True
        if first:
            log.warning("%s: %d items waiting; dropping new ones (%d so far)", self._name, self._max_items,
                        self.dropped)  # fmt: skip
        return False

    @property
    def waiting(self) -> int:
        return self._waiting

    def wake(self) -> None:
        """Start a round now (e.g. something ``handle`` depends on has changed)."""
        self._signal(_WAKE)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every item put so far has been handled."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._signal(_Flush(done))
        return done.wait(timeout_s)

    def _signal(self, marker: object) -> None:
        self._queue.put(marker)
        self._urgent.set()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if not (first is _STOP or first is _WAKE or isinstance(first, _Flush)):
                self._urgent.wait(self._delay_s)
            self._urgent.clear()
            items = [first]
            with contextlib.suppress(queue.Empty):
                while True:
                    items.append(self._queue.get_nowait())
            batch = cast(list[T], [i for i in items if not (i is _STOP or i is _WAKE or isinstance(i, _Flush))])
            with self._count_lock:
                self._waiting -= len(batch)
            step = self._max_batch or len(batch) or 1
            for start in range(0, max(len(batch), 1), step):
                chunk = batch[start : start + step]
                try:
                    self._handle(chunk)
                except Exception:  # the journal's own errors are counted there; never let the thread die
                    log.exception("%s: handling a batch of %d failed", self._name, len(chunk))
            for item in items:
                if isinstance(item, _Flush):
                    item.done.set()
            if any(i is _STOP for i in items):
                return
