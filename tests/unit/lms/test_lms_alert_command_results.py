"""The per-agent command outcomes the ``command_failure_rate`` rules count: the same counts as a scan of every one."""

from __future__ import annotations

import random

from edge.lms.alerts.command_results import CommandResults


def scan(kept: list[tuple[float, bool]], cutoff: float) -> tuple[int, int]:
    recent = [ok for at, ok in kept if at >= cutoff]
    return len(recent), recent.count(False)


def test_counts_match_a_scan_of_every_kept_outcome() -> None:
    rng = random.Random(7)
    results = CommandResults(50)
    kept: list[tuple[float, bool]] = []
    now = 0.0
    for _ in range(2000):
        now += rng.choice([0.0, 0.1, 1.0, 7.0])  # repeated instants too
        ok = rng.random() < 0.7
        results.add(now, ok)
        kept = [*kept, (now, ok)][-50:]
        for window in (0.0, 0.5, 5.0, 30.0, 1e9):
            assert results.since(now - window) == scan(kept, now - window)
    assert len(results) == 50


def test_empty_and_all_too_old() -> None:
    results = CommandResults(10)
    assert results.since(0.0) == (0, 0)
    results.add(1.0, False)
    results.add(2.0, True)
    assert results.since(2.5) == (0, 0)
    assert results.since(2.0) == (1, 0)
    assert results.since(1.0) == (2, 1)


def test_a_clock_reading_earlier_than_the_last_counts_as_the_last() -> None:
    results = CommandResults(10)
    results.add(5.0, True)
    results.add(4.0, False)  # e.g. a test clock set back
    assert results.since(5.0) == (2, 1)


def test_dropping_the_oldest_keeps_the_counts_of_the_rest() -> None:
    rng = random.Random(11)
    results = CommandResults(1000)
    kept: list[tuple[float, bool]] = []
    now = 0.0
    for _ in range(500):
        now += rng.choice([0.0, 0.5, 2.0])
        ok = rng.random() < 0.6
        results.add(now, ok)
        results.drop_before(now - 20.0)  # the widest window, as the evaluator keeps them
        kept = [(at, o) for at, o in [*kept, (now, ok)] if at >= now - 20.0]
        assert len(results) == len(kept)
        for window in (0.0, 5.0, 20.0, 1e9):
            assert results.since(now - window) == scan(kept, now - window)
