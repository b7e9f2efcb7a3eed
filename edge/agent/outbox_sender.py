"""The outbox's sender: publishes the items of the durable :class:`~edge.agent.outbox.Outbox` in order, at QoS 1,
while connected, and marks each one done after its PUBACK (delivery at least once: see :mod:`edge.agent.outbox`).

A PUBACK that says "no matching subscribers" (MQTT 5 reason 0x10) is no delivery: the broker took the message but
nobody got it. That happens when the site broker restarts without the LMS's persistent session (killed before it
first saved its database: ``autosave_interval``) and the agent is back before the LMS has subscribed again (issue 17:
the events and results an agent sent in those seconds were lost). Such an item stays in the outbox and goes again,
with every item sent after it (in order; the LMS drops what it gets twice), after a pause that doubles while nobody
subscribes (from :data:`RETRY_MIN_S` up to the poll interval) and ends at the next delivery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from edge.agent.outbox import WINDOW, Outbox
from shared.mqtt import NO_MATCHING_SUBSCRIBERS
from shared.periodic import Periodic

log = logging.getLogger(__name__)

#: The first pause after a PUBACK said nobody subscribed; it doubles (up to ``poll_s``) while that goes on.
RETRY_MIN_S = 0.5


class Publisher(Protocol):
    """What the sender needs of the MQTT link."""

    @property
    def connected(self) -> bool: ...

    def send(self, channel: str, payload: bytes) -> Any:
        """Publish at QoS 1; return something with ``wait_for_publish(timeout)`` / ``is_published()``."""
        ...


class OutboxSender:
    """Drains an :class:`Outbox` through a :class:`Publisher`, in order, while connected.

    :meth:`pump` publishes every item not yet in flight (up to :data:`WINDOW` in flight), oldest first; it
    runs in the thread that appended an item (so a result goes out at once, without a thread hand-off).
    PUBACKs come back through :meth:`acked` (the MQTT client's publish callback, on its network thread),
    which marks the items done in the outbox there and then — so a command's round trip wakes no other
    thread. The sender's own thread only works when woken (a connect, a full window freed, an acknowledgement
    it must apply itself, a pause to wait out) and every ``poll_s``: then it applies waiting acknowledgements,
    settles in-flight items whose PUBACK it learnt of another way (``is_published()``, for a publisher whose
    messages carry no ``mid``: with one, only :meth:`acked` knows whether anybody got it), and pumps.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        *,
        on_dropped: Callable[[int], None] | None = None,
        poll_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.on_dropped = on_dropped
        self.poll_s = poll_s
        self.sent = 0
        self._inflight: OrderedDict[int, Any] = OrderedDict()  # seq -> the MQTT client's message info
        self._by_mid: dict[int, int] = {}  # MQTT message id -> seq, for the items in flight
        self._acks: deque[tuple[int, int]] = deque()  # (message id, reason code) acknowledged, not yet applied
        self._send_lock = threading.Lock()
        self._clock = clock
        #: the pause in force since the broker last said nobody subscribed (0: the last PUBACK was a delivery)
        self.retry_pause_s = 0.0
        self._resume_at = 0.0  # no publishing before this (``clock``)
        self._closing = threading.Event()
        self._periodic = Periodic("outbox", self._pass, poll_s, run_at_start=False, join_timeout_s=5.0)

    def start(self) -> None:
        self._closing.clear()
        self._periodic.start()

    def wake(self) -> None:
        """Look at the outbox now (called on every connect)."""
        self._periodic.wake()

    def pump(self) -> None:
        """Publish, in order, the items not yet in flight (while connected, not pausing, and the window has room)."""
        if not self.publisher.connected or self._paused_s() > 0:
            return
        with self._send_lock:
            if self._paused_s() > 0:  # an acknowledgement applied meanwhile said nobody subscribed
                return
            after = next(reversed(self._inflight)) if self._inflight else 0
            room = WINDOW - len(self._inflight)
            if room <= 0:
                return
            for item in self.outbox.peek(room, after):
                info = self.publisher.send(item.channel, item.payload)
                if info is None:  # not accepted now (disconnected): published again later
                    break
                self._inflight[item.seq] = info
                mid = getattr(info, "mid", None)
                if isinstance(mid, int):
                    self._by_mid[mid] = item.seq

    def acked(self, mid: int, reason_code: int = 0) -> None:
        """The broker acknowledged message ``mid`` with ``reason_code`` (any thread; never blocks). Ignores other
        messages' ids. :data:`~shared.mqtt.NO_MATCHING_SUBSCRIBERS`: nobody got it, it goes again (module doc).

        Called by the MQTT client with its own locks held: it must not wait for :meth:`pump` (which calls into
        the client), so when a pump is under way the acknowledgement is left to the sender thread."""
        self._acks.append((mid, reason_code))
        if not self._send_lock.acquire(blocking=False):
            self.wake()
            return
        try:
            more = self._apply_acks()
        finally:
            self._send_lock.release()
        if more:
            self.wake()  # the window was full: the sender thread sends the rest

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the outbox to empty (used before a clean stop). True if it did."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox):
            if time.monotonic() >= deadline or not self.publisher.connected:
                return False
            self.wake()
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        self._closing.set()
        self._periodic.stop()

    # ------------------------------------------------------------ acknowledgements

    def _apply_acks(self) -> bool:
        """Mark acknowledged items done, or to go again if nobody got them (``_send_lock`` held). True if the
        sender thread has work: items wait beyond the window, or a pause to wait out before sending again."""
        done: list[int] = []
        unheard: int | None = None
        while self._acks:
            mid, reason = self._acks.popleft()
            seq = self._by_mid.pop(mid, None)
            if seq is None or seq not in self._inflight:
                continue
            if reason == NO_MATCHING_SUBSCRIBERS:
                self._rewind(seq)  # it and those after it go again, in order (their own PUBACKs are ignored)
                unheard = seq if unheard is None else min(unheard, seq)
                continue
            del self._inflight[seq]
            done.append(seq)
        if done:
            self._done(done)
        if unheard is not None:
            self._pause(unheard)
            return True
        if done and self.retry_pause_s:
            log.info("outbox: the broker delivers again (a subscriber is back)")
            self.retry_pause_s = 0.0
        return bool(done) and len(self.outbox) > len(self._inflight)

    def _rewind(self, seq: int) -> None:
        """``seq`` and every item sent after it are no longer in flight: published again (``_send_lock`` held)."""
        for later in [k for k in self._inflight if k >= seq]:
            del self._inflight[later]
        self._by_mid = {m: q for m, q in self._by_mid.items() if q < seq}

    def _pause(self, seq: int) -> None:
        """Nobody subscribed to item ``seq``: wait (a pause that doubles while this goes on) before sending again."""
        first = not self.retry_pause_s
        self.retry_pause_s = min(max(RETRY_MIN_S, 2 * self.retry_pause_s), max(RETRY_MIN_S, self.poll_s))
        self._resume_at = self._clock() + self.retry_pause_s
        level = logging.WARNING if first else logging.DEBUG
        log.log(level, "outbox: the broker has no subscriber for item %d (the LMS's session is gone?): kept, sent "
                "again in %g s", seq, self.retry_pause_s)  # fmt: skip

    def _paused_s(self) -> float:
        return self._resume_at - self._clock()

    def _done(self, seqs: list[int]) -> None:
        self.outbox.remove(seqs)
        self.sent += len(seqs)

    # ------------------------------------------------------------ thread

    def _pass(self) -> None:
        """One look at the outbox (every ``poll_s``, and at once when woken); a failure is retried next time."""
        self._report_dropped()
        if not self.publisher.connected:
            return
        with self._send_lock:
            self._apply_acks()
        self._settle()
        pause = self._paused_s()
        if pause > 0 and self._closing.wait(min(pause, self.poll_s)):
            return
        self.pump()
        self._report_dropped()

    def _settle(self) -> None:
        """Settle in-flight items by their message info (acknowledgements not seen through :meth:`acked`)."""
        with self._send_lock:
            done: list[int] = []
            for seq, info in list(self._inflight.items()):
                try:
                    published = bool(info.is_published())
                except (RuntimeError, ValueError):
                    # The MQTT client gave up on it (never expected: only accepted messages are in flight).
                    # Publish it and everything after it again, in order (the LMS tolerates duplicates).
                    self._rewind(seq)
                    break
                if not published or isinstance(getattr(info, "mid", None), int):
                    break  # in order: the rest waits for this one; one with a mid is settled by acked() alone
                done.append(seq)
                del self._inflight[seq]
            if done:
                settled = set(done)
                self._by_mid = {m: q for m, q in self._by_mid.items() if q not in settled}
                self._done(done)

    def _report_dropped(self) -> None:
        if self.on_dropped is None:
            return
        dropped = self.outbox.take_dropped()
        if dropped:
            self.on_dropped(dropped)
