from __future__ import annotations

import threading

from edge.lms.batcher import Batcher


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
