"""The durable outbox (real files): order, persistence across restarts, bounds, crash tolerance, the sender."""

from __future__ import annotations

import resource
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from edge.agent.outbox import WINDOW, Outbox, OutboxError
from edge.agent.outbox_sender import OutboxSender
from shared.mqtt import NO_MATCHING_SUBSCRIBERS


def payloads(outbox: Outbox) -> list[bytes]:
    return [item.payload for item in outbox.peek(1000)]


def test_items_keep_their_order_and_survive_a_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    seqs = [box.append("response", f"r{i}".encode()) for i in range(5)]
    assert seqs == sorted(seqs) and len(box) == 5 and box.size_bytes == 10
    box.remove(seqs[:2])
    box.close()
    again = Outbox(tmp_path / "outbox.log")
    assert payloads(again) == [b"r2", b"r3", b"r4"] and len(again) == 3 and again.size_bytes == 6
    assert [i.channel for i in again.peek(10)] == ["response"] * 3
    assert [i.payload for i in again.peek(10, after=seqs[2])] == [b"r3", b"r4"]
    new = again.append("event", b"e")
    assert new > seqs[-1]  # sequence numbers are never reused, so order holds across restarts
    again.remove([seqs[0], 999_999])  # already gone / unknown: ignored
    assert payloads(again) == [b"r2", b"r3", b"r4", b"e"]
    again.close()


def test_bounds_drop_the_oldest_and_count_them_across_restarts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log", max_items=3, max_bytes=1000)
    for i in range(5):
        box.append("event", f"e{i}".encode())
    assert payloads(box) == [b"e2", b"e3", b"e4"]
    box.close()
    box = Outbox(tmp_path / "outbox.log", max_items=3, max_bytes=10)
    box.append("event", b"x" * 7)  # by bytes: 6 + 7 > 10, so e2 and e3 go (e4 + x = 9)
    assert payloads(box) == [b"e4", b"x" * 7]
    assert box.take_dropped() == 4
    assert box.take_dropped() == 0
    with pytest.raises(OutboxError, match="exceeds"):
        box.append("event", b"y" * 11)
    assert payloads(box) == [b"e4", b"x" * 7]
    box.close()


def test_a_record_cut_short_by_a_crash_and_junk_lines_are_ignored(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    box.append("response", b'{"a":1}')
    box.append("response", b'{"b":2}')
    box.close()
    with (tmp_path / "outbox.log").open("ab") as fh:
        fh.write(b"garbage line\n+x\tresponse\n+99\tresponse\t{\"cut")  # the last one has no newline
    again = Outbox(tmp_path / "outbox.log")
    assert payloads(again) == [b'{"a":1}', b'{"b":2}']
    assert again.append("event", b"{}") == 3  # the cut record's seq was never taken
    again.close()
    assert b"garbage" not in (tmp_path / "outbox.log").read_bytes()  # rewritten clean at the next open
    assert payloads(Outbox(tmp_path / "outbox.log")) == [b'{"a":1}', b'{"b":2}', b"{}"]


def test_a_failed_append_leaves_nothing_half_written(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    box.append("response", b"kept")
    size = (tmp_path / "outbox.log").stat().st_size
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:  # a real write failure: the file may not grow past its size + 10 bytes (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, old_limit[1]))
        with pytest.raises(OutboxError, match="outbox"):
            box.append("response", b"x" * 4096)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert (tmp_path / "outbox.log").stat().st_size == size
    assert payloads(box) == [b"kept"] and len(box) == 1
    box.append("response", b"after")
    box.close()
    assert payloads(Outbox(tmp_path / "outbox.log")) == [b"kept", b"after"]


def test_payloads_with_newlines_are_refused(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    with pytest.raises(OutboxError, match="newline"):
        box.append("response", b"{\n}")
    assert len(box) == 0


def test_done_records_are_compacted_away(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    for _ in range(3000):
        box.remove([box.append("response", b"p" * 200)])
    box.append("response", b"last")
    assert (tmp_path / "outbox.log").stat().st_size < 300 * 1024
    assert payloads(box) == [b"last"]
    box.close()


class Info:
    """What paho's MQTTMessageInfo offers the sender: a PUBACK that arrives when the test says so."""

    def __init__(self) -> None:
        self.acked = threading.Event()

    def wait_for_publish(self, timeout: float) -> None:
        self.acked.wait(timeout)

    def is_published(self) -> bool:
        return self.acked.is_set()


class Link:
    """The sender's view of the MQTT link (the real one is exercised in tests/integration/agent)."""

    def __init__(self) -> None:
        self.connected = False
        self.sent: list[tuple[str, bytes, Info]] = []
        self.cond = threading.Condition()

    def send(self, channel: str, payload: bytes) -> Any:
        info = Info()
        with self.cond:
            self.sent.append((channel, payload, info))
            self.cond.notify_all()
        return info

    def wait_sent(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.sent) >= n, 10), self.sent


def test_sender_waits_for_the_connection_and_deletes_only_acknowledged_items(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    link = Link()
    dropped: list[int] = []
    sender = OutboxSender(box, link, on_dropped=dropped.append, poll_s=0.05)
    sender.start()
    try:
        box.append("response", b"a")
        box.append("event", b"b")
        assert not sender.drain(0.2)  # disconnected: nothing can go
        assert link.sent == []
        link.connected = True
        sender.wake()
        link.wait_sent(2)
        assert [(c, p) for c, p, _ in link.sent] == [("response", b"a"), ("event", b"b")]
        assert len(box) == 2  # not acknowledged yet: still on disk
        link.sent[0][2].acked.set()
        link.sent[1][2].acked.set()
        assert sender.drain(10) and len(box) == 0 and sender.sent == 2
        box.append("response", b"c")
        sender.pump()  # what the uplink does after an append: out at once, from the caller's thread
        assert [p for _, p, _ in link.sent] == [b"a", b"b", b"c"]  # once each, in order
        link.sent[2][2].acked.set()
        assert sender.drain(10)
        assert dropped == []
    finally:
        sender.stop()
        box.close()


def test_sender_reports_drops_once_on_connect(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log", max_items=10)
    box.max_items = 2
    for name in (b"a", b"b", b"c"):
        box.append("event", name)
    link = Link()
    dropped: list[int] = []
    sender = OutboxSender(box, link, on_dropped=dropped.append, poll_s=0.05)
    sender.start()
    try:
        link.connected = True
        sender.wake()
        link.wait_sent(2)
        assert [p for _, p, _ in link.sent] == [b"b", b"c"]
        for _, _, info in link.sent:
            info.acked.set()
        assert sender.drain(10)
        assert dropped == [1]
    finally:
        sender.stop()
        box.close()


def test_at_most_a_window_is_in_flight_and_order_holds(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    link = Link()
    link.connected = True
    sender = OutboxSender(box, link, poll_s=0.05)
    sender.start()
    try:
        for i in range(WINDOW + 8):
            box.append("event", b"%d" % i)
            sender.pump()
        link.wait_sent(WINDOW)
        assert len(link.sent) == WINDOW  # no PUBACK yet: the window is full
        for n in range(WINDOW + 8):
            link.wait_sent(n + 1)
            link.sent[n][2].acked.set()
        assert sender.drain(10)
        assert [p for _, p, _ in link.sent] == [b"%d" % i for i in range(WINDOW + 8)]
    finally:
        sender.stop()
        box.close()


class MidLink(Link):
    """Like paho: each message info carries its message id; PUBACKs come back through ``sender.acked``."""

    def send(self, channel: str, payload: bytes) -> Any:
        info = super().send(channel, payload)
        info.mid = len(self.sent)
        return info


def test_acknowledgements_by_callback_settle_at_once_and_free_the_window(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.log")
    link = MidLink()
    link.connected = True
    sender = OutboxSender(box, link, poll_s=60.0)  # the thread never polls: only acked() and wakes count
    sender.start()
    try:
        box.append("response", b"r1")
        sender.pump()
        assert len(link.sent) == 1 and len(box) == 1
        sender.acked(999)  # another message's PUBACK (e.g. a status): ignored
        assert len(box) == 1
        sender.acked(1)
        assert len(box) == 0 and sender.sent == 1  # done in the caller's thread, no poll needed
        sender.acked(1)  # a repeated acknowledgement changes nothing
        assert sender.sent == 1
        # a full window: acknowledging frees it and the sender thread publishes the rest, in order
        for i in range(WINDOW + 3):
            box.append("event", b"%d" % i)
            sender.pump()
        assert len(link.sent) == 1 + WINDOW
        for mid in range(2, 2 + WINDOW + 3):
            link.wait_sent(mid)
            sender.acked(mid)
        assert sender.drain(10) and sender.sent == 1 + WINDOW + 3
        assert [p for _, p, _ in link.sent[1:]] == [b"%d" % i for i in range(WINDOW + 3)]
    finally:
        sender.stop()
        box.close()


def test_an_item_no_subscriber_got_stays_and_goes_again_in_order(tmp_path: Path) -> None:
    """Issue 17: a site broker restarted without the LMS's session (killed before it first saved its database)
    acknowledges what an agent publishes before the LMS is back with "no matching subscribers" (MQTT 5 reason 0x10):
    nobody got it. Such an item is not done: it stays in the outbox and goes again, with everything sent after it, in
    order; paho's ``is_published()`` (true for any PUBACK) never settles it."""
    box = Outbox(tmp_path / "outbox.log")
    link = MidLink()
    link.connected = True
    sender = OutboxSender(box, link, poll_s=60.0)  # only acked() and wakes move it
    sender.start()
    try:
        for name in (b"e1", b"e2", b"e3"):
            box.append("event", name)
            sender.pump()
        assert [p for _, p, _ in link.sent] == [b"e1", b"e2", b"e3"]
        for _, _, info in link.sent:
            info.acked.set()  # paho: published, whatever the reason code
        sender.acked(1, NO_MATCHING_SUBSCRIBERS)
        sender.acked(2)  # the LMS subscribed meanwhile: e2 reached it (it will get it twice, which it drops)
        sender.acked(3, NO_MATCHING_SUBSCRIBERS)
        link.wait_sent(6)  # after a pause, all three again, in order
        assert [p for _, p, _ in link.sent] == [b"e1", b"e2", b"e3"] * 2
        assert payloads(box) == [b"e1", b"e2", b"e3"] and sender.sent == 0
        for mid in (4, 5, 6):
            sender.acked(mid)
        assert sender.drain(10) and sender.sent == 3 and payloads(box) == []
    finally:
        sender.stop()
        box.close()


def test_the_sender_waits_longer_while_nobody_subscribes(tmp_path: Path) -> None:
    """With no subscriber for a while (the LMS down, its session gone) the sender tries again less and less often
    (a pause that doubles, up to its poll interval), not at every append; a delivery ends the pauses."""
    box = Outbox(tmp_path / "outbox.log")
    link = MidLink()
    link.connected = True
    now = [1000.0]
    sender = OutboxSender(box, link, poll_s=60.0, clock=lambda: now[0])
    sender.start()
    try:
        box.append("event", b"e1")
        sender.pump()
        sender.acked(1, NO_MATCHING_SUBSCRIBERS)
        first = sender.retry_pause_s
        assert first > 0
        box.append("event", b"e2")
        sender.pump()  # paused: nothing goes
        sender.wake()
        assert [p for _, p, _ in link.sent] == [b"e1"]
        now[0] += first
        sender.wake()
        link.wait_sent(3)  # the pause is over: both, in order
        assert [p for _, p, _ in link.sent] == [b"e1", b"e1", b"e2"]
        sender.acked(2, NO_MATCHING_SUBSCRIBERS)
        assert sender.retry_pause_s == 2 * first
        now[0] += first
        sender.wake()
        sender.pump()
        assert len(link.sent) == 3  # half way through the longer pause: nothing
        now[0] += first
        sender.wake()
        link.wait_sent(5)
        sender.acked(4)
        sender.acked(5)
        assert sender.drain(10) and payloads(box) == [] and sender.retry_pause_s == 0
        assert [p for _, p, _ in link.sent] == [b"e1", b"e1", b"e2", b"e1", b"e2"]
    finally:
        sender.stop()
        box.close()
