"""Segmented recording: frames fed with their own clock, files read back with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.agent.camera.recorder import FrameClock, SegmentRecorder, segment_name


def frame(i: int, w: int = 160, h: int = 120) -> np.ndarray:
    img = np.full((h, w, 3), (i * 5) % 256, np.uint8)
    cv2.putText(img, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return img


def read_back(path: Path) -> tuple[int, float, tuple[int, int]]:
    """(frames decoded, duration from the container, frame size) of a recording."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fps = cap.get(cv2.CAP_PROP_FPS)
    n, size = 0, (0, 0)
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n, size = n + 1, (img.shape[1], img.shape[0])
    cap.release()
    return n, n / fps, size


@pytest.mark.parametrize(("codec", "suffix"), [("mp4v", ".mp4"), ("MJPG", ".avi")])
def test_segments_roll_over_between_frames_without_gaps(tmp_path: Path, codec: str, suffix: str) -> None:
    rec = SegmentRecorder(tmp_path / "cam1", "cam1", codec=codec, fps=10, segment_s=1.0)
    closed = []
    for i in range(45):  # 4.5 s at 10 fps -> 4 full segments and a half one
        done = rec.write(frame(i), now=100 + i / 10, wall=1_700_000_000 + i / 10)
        if done is not None:
            closed.append(done)
    last = rec.close()
    assert last is not None
    files = sorted((tmp_path / "cam1").iterdir())
    assert files == [*closed, last]
    assert all(f.suffix == suffix and f.name.startswith("cam1_20231114-") for f in files)
    counts = [read_back(f) for f in files]
    assert [c[0] for c in counts] == [10, 10, 10, 10, 5]  # every frame in exactly one file
    assert [round(c[1], 2) for c in counts] == [1.0, 1.0, 1.0, 1.0, 0.5]
    assert {c[2] for c in counts} == {(160, 120)}


def test_frames_of_another_size_or_depth_are_converted_not_dropped(tmp_path: Path) -> None:
    rec = SegmentRecorder(tmp_path, "c", codec="mp4v", fps=10, segment_s=60)
    rec.write(frame(0), now=0)
    rec.write(frame(1, 320, 240), now=0.1)  # VideoWriter would silently drop this one
    rec.write(frame(2, 162, 122), now=0.2)
    rec.write(frame(3)[:, :, 0], now=0.3)  # one channel instead of three: dropped silently too
    path = rec.close()
    assert path is not None and read_back(path)[0] == 4


def test_names_carry_camera_and_utc_start(tmp_path: Path) -> None:
    assert segment_name("door", 1_700_000_000.25, ".mp4") == "door_20231114-221320-250.mp4"
    a = SegmentRecorder(tmp_path, "door", codec="mp4v", fps=10, segment_s=60)
    a.write(frame(0), now=0, wall=1_700_000_000.25)
    b = SegmentRecorder(tmp_path, "door", codec="mp4v", fps=10, segment_s=60)
    b.write(frame(0), now=0, wall=1_700_000_000.25)  # same millisecond: never overwrites
    assert a.close() != b.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["door_20231114-221320-250-1.mp4",
                                                          "door_20231114-221320-250.mp4"]


def written(clock: FrameClock, times: list[float]) -> list[float]:
    return [round(t, 3) for now in times for t in clock.slots(now)]


def test_frame_clock_keeps_a_camera_faster_than_fps_to_fps() -> None:
    arrivals = [i / 30 for i in range(31)]  # a 30 fps camera, recorded at 10 fps, for 1 s
    assert written(FrameClock(10), arrivals) == [round(i / 10, 3) for i in range(11)]


def test_frame_clock_passes_a_matching_camera_through_despite_jitter() -> None:
    arrivals = [i / 10 + (0.02 if i % 2 else -0.02) for i in range(1, 21)]  # intervals 60 ms, 140 ms, ...
    out = written(FrameClock(10), arrivals)
    assert len(out) == 20 and out == [round(out[0] + i / 10, 3) for i in range(20)]


def test_frame_clock_fills_short_gaps_and_restarts_after_long_ones() -> None:
    clock = FrameClock(10, max_fill_s=1.0)
    assert written(clock, [0.0, 0.1, 0.4]) == [0.0, 0.1, 0.2, 0.3, 0.4]  # 0.2, 0.3 repeat the 0.4 frame
    assert written(clock, [10.0, 10.1]) == [10.0, 10.1]  # after a 10 s outage: no 100 copies, a new start


def test_segments_on_the_frame_clock_hold_exactly_segment_s_of_video(tmp_path: Path) -> None:
    clock, rec = FrameClock(15), SegmentRecorder(tmp_path, "c", codec="mp4v", fps=15, segment_s=1.0)
    for i in range(100):  # a 25 fps camera for 4 s, recorded at 15 fps
        for t in clock.slots(1000 + i / 25):
            rec.write(frame(i), now=t)
    rec.close()
    assert [read_back(f)[0] for f in sorted(tmp_path.iterdir())] == [15, 15, 15, 15]
