"""The latest camera preview frame of each ClassTop client, in memory and bounded.

A frame is kept until the client sends a newer one, its connection closes (:meth:`LatestFrames.drop`), it is
older than ``ttl_s``, or the frames of all clients together pass ``max_bytes`` (the oldest go first). Nothing is
written to disk: the console shows a look at the room, not a recording.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class _Kept:
    camera_index: int
    frame: str
    received_at: float  # wall clock, shown to operators
    at: float  # monotonic, for expiry

    @property
    def size(self) -> int:
        return len(self.frame)


class LatestFrames:
    """Put from the event loop, read by API handlers (thread-safe)."""

    def __init__(
        self, *, ttl_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._frames: OrderedDict[str, _Kept] = OrderedDict()  # oldest first
        self._bytes = 0
        self.evicted = 0

    def put(self, client_uuid: str, camera_index: int, frame: str) -> None:
        kept = _Kept(camera_index, frame, self._wall_clock(), self._clock())
        with self._lock:
            self._remove(client_uuid)
            if kept.size > self._max_bytes:
                return
            self._frames[client_uuid] = kept
            self._bytes += kept.size
            self._expire(kept.at)
            while self._bytes > self._max_bytes:
                self._remove(next(iter(self._frames)))
                self.evicted += 1

    def get(self, client_uuid: str) -> dict[str, Any] | None:
        """``{camera_index, frame (base64 JPEG), received_at}``, or ``None`` (none, gone, or too old)."""
        with self._lock:
            self._expire(self._clock())
            kept = self._frames.get(client_uuid)
        if kept is None:
            return None
        return {"camera_index": kept.camera_index, "frame": kept.frame, "received_at": kept.received_at}

    def drop(self, client_uuid: str) -> None:
        with self._lock:
            self._remove(client_uuid)

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._frames)

    # ------------------------------------------------------------ (lock held)

    def _remove(self, client_uuid: str) -> None:
        kept = self._frames.pop(client_uuid, None)
        if kept is not None:
            self._bytes -= kept.size

    def _expire(self, now: float) -> None:
        while self._frames:
            client_uuid, oldest = next(iter(self._frames.items()))
            if now - oldest.at < self._ttl_s:
                return
            self._remove(client_uuid)
            self.evicted += 1
