"""Rate limits of callers without credentials: fixed windows counted in DynamoDB (shared by every Lambda instance).

A window is ``[k * window_s, (k + 1) * window_s)``; a caller gets at most ``limit`` uses per window, so at most
``2 * limit`` across a window boundary. Counters expire with their window (DynamoDB TTL).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.repositories.rate_limit import RateLimitRepository

#: a counter outlives its window by this much before TTL may delete it (TTL deletion is not instant anyway)
_TTL_MARGIN_S = 300


class RateLimiter:
    def __init__(self, repository: RateLimitRepository, clock: Callable[[], float] = time.time) -> None:
        self._repository = repository
        self._clock = clock

    def take(self, scope: str, subject: str, limit: int, window_s: int) -> float | None:
        """Count one use by ``subject`` in ``scope``: ``None`` if allowed, else the seconds until its window ends."""
        now = self._clock()
        start = int(now // window_s) * window_s
        end = start + window_s
        if self._repository.take(f"{scope}#{subject}#{start}", limit, end + _TTL_MARGIN_S):
            return None
        return max(1.0, end - now)
