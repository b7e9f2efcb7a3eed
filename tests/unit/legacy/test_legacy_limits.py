"""The ClassTop endpoints' bounds in memory: rates per key (bounded keys) and the latest camera frames (bounded
in age and bytes)."""

from __future__ import annotations

from edge.lms.legacy.frames import LatestFrames
from edge.lms.legacy.ratelimit import Bucket, RateLimiter
from tests.fixtures.clock import Clock


def test_a_minutes_budget_then_the_wait_for_the_next_one() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    assert [limiter.take("10.0.0.5") for _ in range(60)] == [0.0] * 60
    assert limiter.take("10.0.0.5") == 1.0  # one a second comes back
    assert limiter.take("10.0.0.6") == 0.0  # another address has its own budget
    clock.now += 2.5
    assert limiter.take("10.0.0.5") == 0.0 and limiter.take("10.0.0.5") == 0.0
    assert 0.0 < limiter.take("10.0.0.5") <= 1.0
    assert limiter.refused == 2


def test_a_flood_of_addresses_costs_bounded_memory() -> None:
    limiter = RateLimiter(1, max_keys=100, clock=Clock())
    for i in range(10_000):
        limiter.take(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(limiter) == 100


def test_bucket_burst_and_rate() -> None:
    clock = Clock()
    bucket = Bucket(10.0, 10.0, clock)
    assert sum(bucket.take() == 0.0 for _ in range(15)) == 10
    clock.now += 0.5
    assert sum(bucket.take() == 0.0 for _ in range(15)) == 5


def test_latest_frames_expire_are_bounded_and_go_with_the_connection() -> None:
    clock = Clock()
    frames = LatestFrames(ttl_s=60, max_bytes=1000, clock=clock, wall_clock=lambda: 5.0)
    frames.put("c-1", 0, "a" * 400)
    frames.put("c-2", 1, "b" * 400)
    assert frames.get("c-1") == {"camera_index": 0, "frame": "a" * 400, "received_at": 5.0}
    frames.put("c-1", 0, "c" * 400)  # a newer frame replaces the client's old one
    assert frames.bytes == 800 and len(frames) == 2
    frames.put("c-3", 2, "d" * 400)  # over 1000 bytes: the oldest (c-2) goes
    assert frames.get("c-2") is None and frames.bytes == 800
    frames.put("c-4", 0, "e" * 2000)  # alone bigger than the budget: not kept
    assert frames.get("c-4") is None and frames.bytes == 800
    frames.drop("c-1")
    assert frames.get("c-1") is None and frames.bytes == 400
    clock.now += 61
    assert frames.get("c-3") is None and frames.bytes == 0 and len(frames) == 0
