from __future__ import annotations

import threading

from edge.lms.store import Batcher


def test_items_are_handled_in_batches_and_flush_waits_for_them() -> None:
    rounds: list[list[int]] = []
    b: Batcher[int] = Batcher("t", rounds.append, delay_s=0.2)
    b.start()
    try:
        for i in range(50):
            b.put(i)
        assert b.flush(5)
        assert [i for r in rounds for i in r] == list(range(50))
        assert len([r for r in rounds if r]) < 50  # grouped, not one round per item
    finally:
        b.stop()
    assert not b.running


def test_a_failing_handler_does_not_stop_the_thread_and_stop_handles_what_is_left() -> None:
    seen: list[int] = []

    def handle(batch: list[int]) -> None:
        if 1 in batch:
            raise RuntimeError("disk full")
        seen.extend(batch)

    b: Batcher[int] = Batcher("t", handle, delay_s=0.01)
    b.start()
    b.put(1)
    assert b.flush(5)
    b.put(2)
    b.stop()
    assert seen == [2]


def test_wake_runs_an_empty_round() -> None:
    woke = threading.Event()
    b: Batcher[int] = Batcher("t", lambda batch: woke.set() if not batch else None, delay_s=10)
    b.start()
    try:
        b.wake()
        assert woke.wait(5)
    finally:
        b.stop()


def test_the_queue_is_bounded_drops_are_counted_and_it_recovers() -> None:
    """A producer faster than the writer (here: a writer not running yet) cannot grow the queue without bound."""
    handled: list[int] = []
    b: Batcher[int] = Batcher("t", handled.extend, delay_s=0.0, max_items=10)
    accepted = [b.put(i) for i in range(100)]
    assert accepted == [True] * 10 + [False] * 90
    assert b.dropped == 90 and b.waiting == 10
    b.start()
    try:
        assert b.flush(5)
        assert handled == list(range(10)) and b.waiting == 0
        assert b.put(1000) is True  # room again once the writer caught up
        assert b.flush(5)
        assert handled[-1] == 1000
    finally:
        b.stop()
