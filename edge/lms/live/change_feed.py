"""The LMS's change feed: what changed (presence, metrics, command progress and results, events, camera health),
numbered, for the console's open pages (``GET /api/live``, Server-Sent Events).

Built so that open consoles cost the command path nothing it can notice:

* :meth:`ChangeFeed.publish` is called on the threads where things happen (the MQTT dispatcher, the command
  log): it encodes the change once, appends it to a bounded ring under a lock, and returns. It never waits for a
  subscriber and never touches the event loop.
* One task on the event loop looks at the ring every :data:`FLUSH_S` and, when it grew, wakes every subscriber
  once for everything new (a subscriber filters by kind and agent and writes one chunk). 200 open pages cost at
  most 200 wake-ups per flush period, however many changes there were.
* A subscriber that falls behind the ring (a slow client) gets ``resync`` and reloads what it shows; the ring
  holds :data:`RING_SIZE` changes. A reconnecting page sends ``Last-Event-ID`` and gets what it missed, if the
  ring still holds it (else ``resync``).
* Changes are kept only while a page is open and for :data:`RESUME_WINDOW_S` after the last one closed: with no
  page, a change is only counted (nothing is made or encoded: the command path pays nothing for the feed), and a
  page resuming from before gets ``resync``.
* Ids go on across restarts: a feed's first id is the time in microseconds, so every id of a run is above every id
  of the runs before it (less than a change a microsecond), and a page resuming after an id of an earlier run of
  the LMS gets ``resync`` (it used to wait, silent, until the new run's ids passed its own).
* The ring is bounded three ways: :data:`RING_SIZE` changes, :data:`RING_BYTES` of frames and :data:`RING_AGE_S`
  seconds. The count alone let a small site's ring grow for a day before it was full (20,000 metrics frames of
  about a kilobyte: 20 MB; the soak measured it as a leak of the LMS, ``bench/soak.py``); a page reconnects after
  :data:`RETRY_MS`, and one that falls a minute behind reloads anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

RING_SIZE: Final = 20_000
#: the frames the ring holds at most, in bytes (the oldest changes go first)
RING_BYTES: Final = 8 * 1024 * 1024
#: changes older than this (seconds) leave the ring
RING_AGE_S: Final = 60.0
FLUSH_S: Final = 0.1
#: a comment line this often keeps proxies and the browser from closing an idle stream
KEEPALIVE_S: Final = 15.0
#: what the browser waits before reconnecting by itself (the SSE ``retry`` field, milliseconds)
RETRY_MS: Final = 3000
#: changes are kept this long after the last page closed (a page reconnecting within it resumes; later: resync)
RESUME_WINDOW_S: Final = 120.0

#: one encoder for every change (``json.dumps`` with options would make one per call)
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=str)
#: a change's data, or a function that makes it (called only when the change is kept)
ChangeData = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class ChangeKind(StrEnum):
    PRESENCE = "presence"
    METRICS = "metrics"
    COMMAND = "command"  # a command's progress (queued/running) or its result
    EVENT = "event"
    CAMERA = "camera"  # an agent's camera health event (cctv.*)
    ALERT = "alert"


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    kind: ChangeKind
    agent_id: str | None
    #: the whole SSE message (``id``, ``event``, ``data`` lines), encoded once for every subscriber
    frame: bytes
    #: when it was published (time.monotonic())
    at: float = 0.0


class FeedClosed(Exception):
    """The feed stopped (the LMS is shutting down)."""


class ChangeFeed:
    def __init__(
        self, *, ring_size: int = RING_SIZE, flush_s: float = FLUSH_S, ring_bytes: int = RING_BYTES,
        ring_age_s: float = RING_AGE_S, resume_window_s: float = RESUME_WINDOW_S, first_seq: int | None = None,
    ) -> None:  # fmt: skip
        """``first_seq``: the id before the first change (``None``: the time in microseconds; module docstring)."""
        self._ring: deque[Change] = deque()
        self._ring_size = ring_size
        self._ring_bytes = ring_bytes
        self._ring_age_s = ring_age_s
        self._bytes = 0  # the frames in the ring
        self._resume_window_s = resume_window_s
        self._last_listener = -math.inf  # when the last page closed (none yet: nothing is kept)
        self._lock = threading.Lock()
        self._seq = time.time_ns() // 1000 if first_seq is None else first_seq
        self._flush_s = flush_s
        self._generation: asyncio.Future[int] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._flushed = 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.subscribers = 0
        self.published = 0

    # ------------------------------------------------------------ producers (any thread)

    @property
    def recording(self) -> bool:
        """Whether changes are kept now: a page is open, or one closed within the window."""
        return self.subscribers > 0 or time.monotonic() - self._last_listener < self._resume_window_s

    def publish(self, kind: ChangeKind, data: ChangeData, agent_id: str | None = None) -> None:
        if not self.recording:
            with self._lock:
                self._seq += 1  # numbered all the same: a page resuming from before it gets resync
                self._ring.clear()  # what it held cannot be resumed from any more (and frees its memory)
                self._bytes = 0
                self.published += 1
            return
        fields = data() if callable(data) else data
        body = _ENCODER.encode({"kind": kind.value, "agent_id": agent_id, "at": time.time(), **fields})
        now = time.monotonic()
        with self._lock:
            self._seq += 1
            seq = self._seq
            change = Change(seq, kind, agent_id, f"id: {seq}\nevent: {kind.value}\ndata: {body}\n\n".encode(), now)
            self._ring.append(change)
            self._bytes += len(change.frame)
            ring, oldest = self._ring, now - self._ring_age_s
            while len(ring) > 1 and (len(ring) > self._ring_size or self._bytes > self._ring_bytes
                                     or ring[0].at < oldest):  # fmt: skip
                self._bytes -= len(ring.popleft().frame)
            self.published += 1

    @property
    def held(self) -> tuple[int, int]:
        """The changes the ring holds, and their frames' bytes."""
        with self._lock:
            return len(self._ring), self._bytes

    @property
    def last_seq(self) -> int:
        return self._seq

    # ------------------------------------------------------------ the event loop's side

    def _ensure_flusher(self) -> asyncio.Future[int]:
        self._loop = loop = asyncio.get_running_loop()
        if self._generation is None or self._generation.done():
            self._generation = loop.create_future()
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop(), name="change-feed")
        return self._generation

    async def _flush_loop(self) -> None:
        while self.subscribers > 0 and not self._closed:
            await asyncio.sleep(self._flush_s)
            seq = self._seq
            if seq != self._flushed and self._generation is not None and not self._generation.done():
                self._flushed = seq
                self._generation.set_result(seq)
                self._generation = asyncio.get_running_loop().create_future()
        if self._generation is not None and not self._generation.done():
            self._generation.cancel()

    def since(self, after: int) -> tuple[list[Change], bool]:
        """The changes after ``after`` and whether some were lost (the ring no longer holds them, or ``after`` is not
        one of this feed's ids)."""
        with self._lock:
            if after >= self._seq:  # beyond the newest: an id this feed never gave (the clock went back between
                return [], after > self._seq  # two runs, or a made-up one): lost, so the page resyncs
            first = self._ring[0].seq if self._ring else self._seq + 1  # an emptied ring lost them all
            lost = after + 1 < first
            start = max(0, after + 1 - first)
            return [self._ring[i] for i in range(start, len(self._ring))], lost

    async def subscribe(
        self, *, after: int | None, kinds: Iterable[ChangeKind], agent_id: str | None = None
    ) -> AsyncIterator[bytes]:
        """The SSE stream of one page: what changed after ``after`` (``None``: from now), of ``kinds``, of one
        agent or all, after a ``connected`` message that gives the position; keep-alive comments; ``resync`` when
        changes were lost."""
        wanted = frozenset(kinds)
        position = self._seq if after is None else after
        self.subscribers += 1
        try:
            # the position as a message of its own: a page that loses the stream resumes after it (after=)
            yield (f"retry: {RETRY_MS}\n: connected at {position}\n"
                   f"id: {position}\nevent: connected\ndata: {{}}\n\n").encode()
            while not self._closed:
                changes, lost = self.since(position)
                if lost:
                    position = self._seq
                    yield f"id: {position}\nevent: resync\ndata: {{}}\n\n".encode()
                    continue
                if changes:
                    position = changes[-1].seq
                    frames = [c.frame for c in changes
                              if c.kind in wanted and (agent_id is None or c.agent_id in (agent_id, None))]
                    if frames:
                        yield b"".join(frames)
                    continue
                generation = self._ensure_flusher()
                try:
                    await asyncio.wait_for(asyncio.shield(generation), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                except asyncio.CancelledError:
                    if self._closed:
                        return
                    raise
        finally:
            self.subscribers -= 1
            self._last_listener = time.monotonic()

    def close(self) -> None:
        """End every open stream (from any thread): the LMS is stopping."""
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._end)

    def _end(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        if self._generation is not None and not self._generation.done():
            self._generation.cancel()
