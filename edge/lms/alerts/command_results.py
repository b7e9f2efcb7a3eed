"""Each agent's recent command outcomes, as the ``command_failure_rate`` rules read them."""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from operator import itemgetter

_AT = itemgetter(0)


class CommandResults:
    """The last ``size`` outcomes of one agent's commands, oldest first, each with the running count of failures up to
    it: the commands and failures within a window are found by one binary search, not a scan of every outcome (the
    scan of 1,000 cost ~0.13 ms of the LMS's CPU after every command, on the thread that answers it)."""

    def __init__(self, size: int) -> None:
        self._items: deque[tuple[float, bool, int]] = deque(maxlen=size)  # (at, success, failures through this one)
        self._failures = 0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, at: float, success: bool) -> None:
        """One outcome; ``at`` never earlier than the last one's (an earlier clock reading counts as the last's)."""
        if self._items:
            at = max(at, self._items[-1][0])
        if not success:
            self._failures += 1
        self._items.append((at, success, self._failures))

    def drop_before(self, cutoff: float) -> None:
        """Forget the outcomes before ``cutoff`` (the running counts of those kept stay right: :meth:`since` takes
        differences of them)."""
        items = self._items
        while items and items[0][0] < cutoff:
            items.popleft()

    def since(self, cutoff: float) -> tuple[int, int]:
        """``(commands, failed)`` among the kept outcomes at or after ``cutoff``."""
        items = self._items
        first = bisect_left(items, cutoff, key=_AT)
        if first == len(items):
            return 0, 0
        _at, success, through = items[first]
        before = through - (0 if success else 1)
        return len(items) - first, items[-1][2] - before
