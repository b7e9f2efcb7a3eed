"""The durable outbox: responses and events wait here, on disk, until the broker has acknowledged them.

Every ``response`` and ``event`` the agent publishes is first appended to a small append-only file
(``state_dir/outbox.log``); the sender (:mod:`edge.agent.outbox_sender`) publishes the items **in order** at
QoS 1 and marks each one done only after its PUBACK. So a result produced while the broker is unreachable — or
while the agent is restarting — is delivered after the next connect, in the order it was produced.

Delivery is at least once: an item whose PUBACK was lost with the connection (or the process) is published
again, so the LMS must treat a repeated ``request_id`` (it already does: terminal states never change) and a
repeated event as harmless.

**File format** (one record per line, bytes): ``+<seq>\t<channel>\t<payload>`` adds an item (the payload is
compact JSON, which never contains a raw newline); ``-<seq>`` marks it done; ``d<n>`` records the count of
dropped items not yet reported. At open the file is replayed and rewritten with only the pending items; it
is compacted again whenever done records dominate it. A line cut short by a crash is ignored. Writes reach
the operating system at once (an agent crash or restart loses nothing); they are not ``fsync``-ed one by
one, so a power cut can lose the items of the last few seconds (as SQLite's ``synchronous=NORMAL`` would).
A plain file rather than SQLite keeps ~1.5 MB (the ``sqlite3`` module and library) out of the idle agent.

**Bounds and drop policy.** The queue holds at most ``max_items`` items and ``max_bytes`` of payload. When an
append would exceed either bound, the *oldest* items are dropped first (a fresh result is worth more than an
old one) and counted; the count survives restarts and, at the next connect, is reported once as an
``Event(kind="outbox.dropped", severity="warning", data={"dropped": n})``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

WINDOW = 32  # items published before waiting for their acknowledgements
_COMPACT_SLACK = 256 * 1024  # compact when the file holds this much more than its pending items


class OutboxError(Exception):
    """The outbox file cannot be written, or an item cannot be stored."""


@dataclass(frozen=True, slots=True)
class Item:
    seq: int
    channel: str
    payload: bytes


class Outbox:
    """A bounded, ordered, durable FIFO of ``(channel, payload)``. Thread-safe."""

    def __init__(self, path: Path, *, max_items: int = 10_000, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.path = Path(path)
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._index: OrderedDict[int, tuple[str, int, int]] = OrderedDict()  # seq -> (channel, offset, length)
        self._bytes = 0
        self._next = 1
        self._dropped = 0
        self._fh: BinaryIO | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            pending = self._replay()
            self._rewrite(pending)
        except OSError as exc:
            raise OutboxError(f"outbox {self.path}: {exc.strerror or exc}") from None
        if self._index:
            log.info("outbox: %d item(s) (%d bytes) waiting from an earlier run", len(self._index), self._bytes)

    # ------------------------------------------------------------ producer side

    def append(self, channel: str, payload: bytes) -> int:
        """Store one item at the tail (dropping the oldest if the bounds demand it). Returns its ``seq``."""
        if len(payload) > self.max_bytes:
            raise OutboxError(f"an item of {len(payload)} bytes exceeds the outbox bound of {self.max_bytes}")
        if b"\n" in payload or "\t" in channel or "\n" in channel:
            raise OutboxError("an outbox item may not contain a newline (payloads are compact JSON)")
        with self._lock:
            seq = self._next
            head = b"+%d\t%s\t" % (seq, channel.encode())
            offset = self._write(head + payload + b"\n") + len(head)
            self._next += 1
            self._index[seq] = (channel, offset, len(payload))
            self._bytes += len(payload)
            dropped = self._enforce_bounds()
        if dropped:
            log.warning("outbox full: dropped the %d oldest item(s)", dropped)
        return seq

    def _enforce_bounds(self) -> int:
        dropped: list[int] = []
        while len(self._index) > self.max_items or self._bytes > self.max_bytes:
            seq, (_channel, _offset, length) = self._index.popitem(last=False)
            self._bytes -= length
            dropped.append(seq)
        if dropped:
            self._dropped += len(dropped)
            self._write(b"".join(b"-%d\n" % seq for seq in dropped) + b"d%d\n" % self._dropped)
        return len(dropped)

    # ------------------------------------------------------------ consumer side

    def peek(self, limit: int = WINDOW, after: int = 0) -> list[Item]:
        """The oldest ``limit`` items with ``seq > after``, oldest first (they stay until :meth:`remove`)."""
        with self._lock:
            assert self._fh is not None
            fd = self._fh.fileno()
            items: list[Item] = []
            for seq, (channel, offset, length) in self._index.items():
                if seq <= after:
                    continue
                if len(items) >= limit:
                    break
                items.append(Item(seq, channel, os.pread(fd, length, offset)))
            return items

    def remove(self, seqs: list[int]) -> None:
        """Mark delivered items done (already-dropped or unknown ones are ignored)."""
        with self._lock:
            done = [seq for seq in seqs if seq in self._index]
            if not done:
                return
            self._write(b"".join(b"-%d\n" % seq for seq in done))
            for seq in done:
                self._bytes -= self._index.pop(seq)[2]
            assert self._fh is not None
            if self._fh.tell() > 2 * self._bytes + _COMPACT_SLACK:
                try:
                    self._rewrite(self._pending())
                except OSError as exc:
                    log.warning("outbox compaction failed (will retry): %s", exc)

    def take_dropped(self) -> int:
        """The number of items dropped since the last call (persisted until taken), reset to 0."""
        with self._lock:
            count, self._dropped = self._dropped, 0
            if count:
                try:
                    self._write(b"d0\n")
                except OutboxError as exc:
                    log.warning("%s", exc)
            return count

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    self._fh.close()
                self._fh = None

    # ------------------------------------------------------------ file

    def _write(self, data: bytes) -> int:
        """Append ``data``; return the offset it starts at. On failure, cut the file back (nothing half-written)."""
        if self._fh is None:
            raise OutboxError(f"outbox {self.path} is closed")
        start = self._fh.tell()
        try:
            self._fh.write(data)
            self._fh.flush()
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._fh.truncate(start)
                self._fh.seek(start)
            raise OutboxError(f"outbox {self.path}: {exc.strerror or exc}") from None
        return start

    def _pending(self) -> list[Item]:
        assert self._fh is not None
        fd = self._fh.fileno()
        return [Item(seq, ch, os.pread(fd, length, off)) for seq, (ch, off, length) in self._index.items()]

    def _replay(self) -> list[Item]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        pending: OrderedDict[int, Item] = OrderedDict()
        bad = 0
        lines = raw.split(b"\n")
        for line in lines[:-1]:  # the part after the last newline is a record cut short: ignored
            try:
                kind, rest = line[:1], line[1:]
                if kind == b"+":
                    seq_text, channel, payload = rest.split(b"\t", 2)
                    seq = int(seq_text)
                    pending[seq] = Item(seq, channel.decode(), payload)
                    self._next = max(self._next, seq + 1)
                elif kind == b"-":
                    pending.pop(int(rest), None)
                elif kind == b"d":
                    self._dropped = int(rest)
                elif line:
                    bad += 1
            except (ValueError, UnicodeDecodeError):
                bad += 1
        if bad or lines[-1]:
            log.warning("outbox %s: ignored %d unreadable record(s)%s", self.path, bad,
                        " and an incomplete last one" if lines[-1] else "")
        return list(pending.values())

    def _rewrite(self, items: list[Item]) -> None:
        """Replace the file with just ``items`` (and the dropped count), atomically; rebuild the index."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        index: OrderedDict[int, tuple[str, int, int]] = OrderedDict()
        with tmp.open("wb") as out:
            if self._dropped:
                out.write(b"d%d\n" % self._dropped)
            for item in items:
                head = b"+%d\t%s\t" % (item.seq, item.channel.encode())
                index[item.seq] = (item.channel, out.tell() + len(head), len(item.payload))
                out.write(head + item.payload + b"\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        fh = self.path.open("r+b")
        fh.seek(0, os.SEEK_END)
        if self._fh is not None:
            self._fh.close()
        self._fh = fh
        self._index = index
        self._bytes = sum(length for _c, _o, length in index.values())
