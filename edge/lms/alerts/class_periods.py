"""Whether a ClassTop client is in one of its own timetable's class periods (``classtop_offline_in_class``).

The periods are the client's schedule entries as the LMS stores them (``classtop_entries``: day of week 1-7 from
Monday, ``HH:MM`` start and end, LMS local time). Teaching ``weeks`` are not applied: the LMS does not know the
term's first week, so a period counts every week (docs/alerts.md#on-the-lms). Schedules are cached for a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from edge.lms.store import Store

CACHE_S = 60.0


class ClassPeriods:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list[tuple[int, str, str]]]] = {}

    def _periods(self, client_uuid: str) -> list[tuple[int, str, str]]:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(client_uuid)
            if hit is not None and now - hit[0] < CACHE_S:
                return hit[1]
        rows = self._store.query(
            "SELECT day_of_week, start_time, end_time FROM classtop_entries WHERE client_uuid = ?", (client_uuid,))
        periods = [(int(d), str(s)[:5], str(e)[:5]) for d, s, e in rows]
        with self._lock:
            self._cache[client_uuid] = (now, periods)
        return periods

    def in_class(self, client_uuid: str, at: float) -> bool | None:
        """True during one of its periods, False outside them, None if it has no timetable (not a ClassTop
        client, or one that never synced)."""
        periods = self._periods(client_uuid)
        if not periods:
            return None
        moment = datetime.fromtimestamp(at)
        day, hhmm = moment.isoweekday(), moment.strftime("%H:%M")
        return any(d == day and start <= hhmm < end for d, start, end in periods)
