"""The outbox's sender: publishes the items of the durable :class:`~edge.agent.outbox.Outbox` in order, at QoS 1,
while connected, and marks each one done after its PUBACK (delivery at least once: see :mod:`edge.agent.outbox`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from edge.agent.outbox import WINDOW, Outbox
from shared.periodic import Periodic

log = logging.getLogger(__name__)


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
    it must apply itself) and every ``poll_s``: then it applies waiting acknowledgements, settles in-flight
    items whose PUBACK it learnt of another way (``is_published()``), and pumps.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        *,
        on_dropped: Callable[[int], None] | None = None,
        poll_s: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.on_dropped = on_dropped
        self.poll_s = poll_s
        self.sent = 0
        self._inflight: OrderedDict[int, Any] = OrderedDict()  # seq -> the MQTT client's message info
        self._by_mid: dict[int, int] = {}  # MQTT message id -> seq, for the items in flight
        self._acks: deque[int] = deque()  # message ids acknowledged, not yet applied
        self._send_lock = threading.Lock()
        self._periodic = Periodic("outbox", self._pass, poll_s, run_at_start=False, join_timeout_s=5.0)

    def start(self) -> None:
        self._periodic.start()

    def wake(self) -> None:
        """Look at the outbox now (called on every connect)."""
        self._periodic.wake()

    def pump(self) -> None:
        """Publish, in order, the items not yet in flight (while connected and the window has room)."""
        if not self.publisher.connected:
            return
        with self._send_lock:
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

    def acked(self, mid: int) -> None:
        """The broker acknowledged message ``mid`` (any thread; never blocks). Ignores other messages' ids.

        Called by the MQTT client with its own locks held: it must not wait for :meth:`pump` (which calls into
        the client), so when a pump is under way the acknowledgement is left to the sender thread."""
        self._acks.append(mid)
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
        self._periodic.stop()

    # ------------------------------------------------------------ acknowledgements

    def _apply_acks(self) -> bool:
        """Mark acknowledged items done (``_send_lock`` held). True if items wait beyond the window."""
        done: list[int] = []
        while self._acks:
            seq = self._by_mid.pop(self._acks.popleft(), None)
            if seq is not None and self._inflight.pop(seq, None) is not None:
                done.append(seq)
        if done:
            self._done(done)
        return bool(done) and len(self.outbox) > len(self._inflight)

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
                    published = False
                    # The MQTT client gave up on it (never expected: only accepted messages are in flight).
                    # Publish it and everything after it again, in order (the LMS tolerates duplicates).
                    for later in [k for k in self._inflight if k >= seq]:
                        del self._inflight[later]
                    self._by_mid = {m: q for m, q in self._by_mid.items() if q < seq}
                    break
                if not published:
                    break  # in order: the rest waits for this one
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
