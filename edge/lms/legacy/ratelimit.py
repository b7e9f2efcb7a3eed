"""Rates per key (a source address, a connection): token buckets in memory, a bounded number of keys.

A bucket holds at most ``burst`` tokens and gains ``rate_per_s`` a second; :meth:`RateLimiter.take` spends one
or says how long until one is there. Beyond ``max_keys`` keys the least recently used bucket is forgotten (it
starts full again when its key comes back), so a flood of addresses costs bounded memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: Source addresses remembered at once (one small bucket each).
MAX_KEYS = 10_000


class Bucket:
    """One token bucket (not thread-safe: one owner, e.g. one connection's reader)."""

    __slots__ = ("_burst", "_clock", "_last", "_rate", "_tokens")

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()

    def take(self) -> float:
        """Spend a token: 0.0 when there was one, else the seconds until there is."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class RateLimiter:
    """``per_minute`` actions per key, all of a minute's budget usable at once (thread-safe)."""

    def __init__(
        self, per_minute: float, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(per_minute)
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self.refused = 0

    def take(self, key: str) -> float:
        """Spend one of ``key``'s actions: 0.0 when allowed, else the seconds to wait (a ``Retry-After``)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(self._rate, self._burst, self._clock)
                if len(self._buckets) > self._max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            wait = bucket.take()
            if wait:
                self.refused += 1
            return wait

    def __len__(self) -> int:
        return len(self._buckets)
