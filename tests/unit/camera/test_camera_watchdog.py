"""The watchdog of one camera worker: dead and stuck capture threads are replaced.

A camera driver that hangs inside ``read()`` cannot be produced here, so the stuck source is a stand-in
whose ``read`` blocks until the test lets it go. The watchdog is given its clock (``now``) explicitly.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from edge.agent.camera.worker import CameraWorker
from shared.cctv import CameraConfig
from tests.unit.camera.conftest import wait_until


class HangingSource:
    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def read(self) -> None:
        self.gate.wait()
        return None

    def release(self) -> None:
        return None


def camera_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "camera-hung" and t.is_alive()]


def test_a_capture_stuck_in_the_driver_is_replaced_ever_more_slowly(tmp_path: Path) -> None:
    gate, opened, kinds = threading.Event(), [], []

    def opener(config: CameraConfig, stop: threading.Event) -> HangingSource:
        opened.append(config.camera_id)
        return HangingSource(gate)

    def emit(kind: str, *_: Any) -> None:
        kinds.append(kind)

    config = CameraConfig(camera_id="hung", source="synthetic:moving", no_frames_s=0.5)  # limit: 2 s
    worker = CameraWorker(config, tmp_path, emit, opener=opener)
    worker.start()
    try:
        t0 = wait_until(lambda: worker.blocked_since, "the thread blocked in read()")
        worker.watchdog(t0 + 1.9)
        assert worker.restarts == 0
        worker.watchdog(t0 + 2.1)
        assert worker.restarts == 1 and kinds == ["cctv.no_frames"]
        t1 = wait_until(lambda: len(opened) == 2 and worker.blocked_since, "a new thread blocked again")
        worker.watchdog(t1 + 3.9)  # the second time it waits twice as long
        assert worker.restarts == 1
        worker.watchdog(t1 + 4.1)
        assert worker.restarts == 2 and kinds == ["cctv.no_frames"]  # one outage, one event
        wait_until(lambda: len(opened) == 3, "a third thread")
        assert len(camera_threads()) == 3  # two abandoned, one current
    finally:
        gate.set()  # the abandoned threads wake up, see they are stale and leave
        worker.stop()
    wait_until(lambda: camera_threads() == [], "every capture thread gone")
    assert worker.state == "stopped" and kinds == ["cctv.no_frames"]


def test_a_dead_capture_thread_is_restarted(tmp_path: Path) -> None:
    config = CameraConfig(camera_id="dead", source="synthetic:moving", fps=10, width=160, height=120)
    worker = CameraWorker(config, tmp_path, lambda *_: None)  # never started: as if its thread had died
    try:
        worker.watchdog(0.0)
        assert worker.restarts == 1
        wait_until(lambda: worker.frames > 0, "frames from the restarted thread")
    finally:
        worker.stop()
