"""Image health measured on frames fed with their own clock (no waiting)."""

from __future__ import annotations

import numpy as np

from edge.agent.camera.health import HealthMonitor

RNG = np.random.default_rng(1)
TEXTURE = RNG.integers(40, 220, size=(120, 160, 3), dtype=np.uint8)


def monitor() -> HealthMonitor:
    return HealthMonitor(frozen_s=5, dark_level=12, blur_level=8, confirm_s=2)


def feed(mon: HealthMonitor, frames: list[np.ndarray], start: float = 0.0) -> list[tuple[float, str]]:
    """Frames 0.25 s apart; returns (time, kind) of every event."""
    out = []
    for i, f in enumerate(frames):
        t = start + i * 0.25
        out += [(t, e.kind) for e in mon.feed(f, t)]
    return out


def moving(n: int) -> list[np.ndarray]:
    return [np.roll(TEXTURE, 3 * i, axis=1) for i in range(n)]


def test_a_live_textured_image_raises_nothing() -> None:
    assert feed(monitor(), moving(80)) == []


def test_frozen_reported_once_after_frozen_s_then_cleared() -> None:
    mon = monitor()
    events = feed(mon, [TEXTURE] * 40)  # 10 s of the same frame
    assert [k for _, k in events] == ["cctv.frozen"]
    assert 5.0 <= events[0][0] <= 6.0
    assert "frozen" in mon.active
    assert [k for _, k in feed(mon, moving(8), start=10)] == ["cctv.frozen_cleared"]
    assert mon.active == set()


def test_frozen_not_reported_before_frozen_s() -> None:
    mon = monitor()
    assert feed(mon, [TEXTURE] * 16) == []  # 4 s
    assert feed(mon, moving(8), start=4) == []  # change resets the clock
    assert feed(mon, [TEXTURE] * 16, start=6) == []


def test_black_image_is_covered_not_frozen_nor_blurred() -> None:
    mon = monitor()
    events = feed(mon, [np.zeros((120, 160, 3), np.uint8)] * 40)
    assert [k for _, k in events] == ["cctv.covered"]
    assert 2.0 <= events[0][0] <= 3.0
    assert mon.measures["brightness"] == 0.0


def test_dim_but_detailed_image_is_not_covered() -> None:
    dim = (TEXTURE // 4).astype(np.uint8)  # mean ~16, still textured
    assert feed(monitor(), [np.roll(dim, i, axis=0) for i in range(40)]) == []


def test_featureless_bright_image_is_blurred() -> None:
    grey = np.full((120, 160, 3), 128, np.uint8)
    noise = [np.clip(grey.astype(int) + (i % 8), 0, 255).astype(np.uint8) for i in range(40)]  # not frozen
    assert [k for _, k in feed(monitor(), noise)] == ["cctv.blurred"]
