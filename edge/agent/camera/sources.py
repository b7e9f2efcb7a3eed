"""Frame sources: a local device, a network stream, a video file (looped) or a synthetic test pattern.

Every source has ``read() -> Frame | None`` (``None``: no frame now) and ``release()``. Files and synthetic
patterns are paced at the camera's ``fps`` like a live camera; a file loops at its end. Frames come out at
the configured resolution when one is set (devices are asked for it; other sources are scaled).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Protocol

from edge.agent.camera.cv import Frame, cv2, np
from edge.agent.camera.errors import CameraError
from shared.cctv import CameraConfig

SYNTHETIC_SIZE = (320, 240)


class FrameSource(Protocol):
    def read(self) -> Frame | None: ...

    def release(self) -> None: ...


class _Pacer:
    """Sleeps so that successive frames are ``1/fps`` apart (interruptible by ``stop``)."""

    def __init__(self, fps: float, stop: threading.Event) -> None:
        self.period = 1.0 / fps
        self.stop = stop
        self.next_at = time.monotonic()

    def wait(self) -> bool:
        now = time.monotonic()
        if self.next_at > now and self.stop.wait(self.next_at - now):
            return False
        self.next_at = max(self.next_at + self.period, time.monotonic() - self.period)
        return True


def _fit(frame: Frame, size: tuple[int, int] | None) -> Frame:
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if size is not None and (frame.shape[1], frame.shape[0]) != size:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame


class CaptureSource:
    """``cv2.VideoCapture`` on a device index or URL; for a file, looped and paced."""

    def __init__(self, config: CameraConfig, stop: threading.Event) -> None:
        self.size = (config.width, config.height) if config.width and config.height else None
        source = config.source
        self.is_file = isinstance(source, str) and source.startswith("/")
        if self.is_file and not Path(str(source)).is_file():
            raise CameraError(f"camera {config.camera_id}: no such file {source}")
        self.cap = cv2.VideoCapture(source if isinstance(source, int) else str(source))
        if not self.cap.isOpened():
            self.cap.release()
            raise CameraError(f"camera {config.camera_id}: cannot open {source}")
        if isinstance(source, int):
            if self.size is not None:
                self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            self.cap.set(cv2.CAP_PROP_FPS, config.fps)
        self.pacer = _Pacer(config.fps, stop) if self.is_file else None

    def read(self) -> Frame | None:
        if self.pacer is not None and not self.pacer.wait():
            return None
        ok, frame = self.cap.read()
        if not ok and self.is_file:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.cap.read()
        return _fit(frame, self.size) if ok and frame is not None else None

    def release(self) -> None:
        self.cap.release()


def test_scene(width: int, height: int) -> Frame:
    """A camera-like test picture: smooth colour areas (as encoders see real scenes) and a grid of sharp lines."""
    rng = np.random.default_rng(7)
    coarse = rng.integers(30, 225, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    scene: Frame = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    for x in range(0, width, max(8, width // 16)):
        cv2.line(scene, (x, 0), (x, height - 1), (235, 235, 235), 1)
    for y in range(0, height, max(8, height // 12)):
        cv2.line(scene, (0, y), (width - 1, y), (20, 20, 20), 1)
    return scene


class SyntheticSource:
    """Test patterns: ``moving`` (textured, changes every frame), ``frozen`` (one textured frame), ``black``."""

    def __init__(self, config: CameraConfig, stop: threading.Event) -> None:
        self.pattern = str(config.source).split(":", 1)[1]
        width, height = (config.width, config.height) if config.width and config.height else SYNTHETIC_SIZE
        self.pacer = _Pacer(config.fps, stop)
        self.count = 0
        self.texture = test_scene(width, height)
        self.black = np.zeros((height, width, 3), np.uint8)

    def read(self) -> Frame | None:
        if not self.pacer.wait():
            return None
        self.count += 1
        if self.pattern == "black":
            return self.black.copy()
        if self.pattern == "frozen":
            return self.texture.copy()
        frame = np.roll(self.texture, self.count * 4, axis=1)
        cv2.putText(frame, str(self.count), (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
        return frame

    def release(self) -> None:
        return None


def open_source(config: CameraConfig, stop: threading.Event) -> FrameSource:
    """Open ``config.source``; raise :class:`CameraError` if it cannot be opened."""
    if isinstance(config.source, str) and config.source.startswith("synthetic:"):
        return SyntheticSource(config, stop)
    return CaptureSource(config, stop)
