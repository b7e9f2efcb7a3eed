"""The soak's verdict (bench/soak.py): a cache that fills and levels off is judged on its settled part and passes;
a leak grows there as much as anywhere and fails; descriptors that only grow fail."""

from __future__ import annotations

from bench.soak import RSS_LIMIT_PER_DAY, Series, report, settled_part, slope, steady_growth

MB = 2**20


def series(name: str, rss: list[float]) -> Series:
    s = Series(name, 1, [])
    for i, value in enumerate(rss):
        t = 60.0 * i
        s.add(t, "rss", value)
        s.add(t, "fds", 30)
        s.add(t, "threads", 20)
        s.add(t, "db", 0)
    return s


def test_a_cache_that_levels_off_passes_and_a_leak_of_the_same_total_fails() -> None:
    filling = [100 * MB + min(i, 12) * 0.5 * MB for i in range(30)]  # +6 MB over 12 minutes, then flat
    leaking = [100 * MB + i * 0.2 * MB for i in range(30)]  # +0.2 MB every minute, all along
    per_day = 86400 / 10 / 60  # samples a minute apart at 10x: MB/minute -> MB per simulated day
    assert slope(settled_part([(60.0 * i, v) for i, v in enumerate(filling)])) == 0.0
    assert slope([(60.0 * i, v) for i, v in enumerate(leaking)]) * 60 * per_day > RSS_LIMIT_PER_DAY
    assert report({"LMS": series("LMS", filling)}, warmup_s=0.0, speed=10.0) is True
    assert report({"LMS": series("LMS", leaking)}, warmup_s=0.0, speed=10.0) is False


def test_descriptors_that_only_grow_fail() -> None:
    assert steady_growth([(0, 30), (60, 31), (120, 31), (180, 32)])
    assert not steady_growth([(0, 30), (60, 31), (120, 30), (180, 32)])
