"""Segmented recording: one file per ``segment_s`` of frames, rolled over between two frames (no gap).

Files are ``<recordings>/<camera_id>/<camera_id>_<UTC start YYYYmmdd-HHMMSS-mmm>.<mp4|avi>``. The segment
clock is the frames' own (monotonic) times, so a segment holds exactly the frames whose time falls in it.
``VideoWriter`` never raises and silently drops frames of the wrong size: the writer's ``isOpened()`` is
checked (:class:`CameraError` with ``internal`` otherwise) and every frame is converted to the segment's
size and three channels.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edge.agent.camera.cv import Frame, cv2
from edge.agent.camera.errors import CameraError
from shared.errors import ErrorCode

log = logging.getLogger(__name__)

EXTENSIONS = {"mp4v": ".mp4", "MJPG": ".avi"}
VIDEO_SUFFIXES = frozenset(EXTENSIONS.values())


def segment_name(camera_id: str, wall: float, suffix: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(wall)) + f"-{int(wall * 1000) % 1000:03d}"
    return f"{camera_id}_{stamp}{suffix}"


class SegmentRecorder:
    """Writes frames into consecutive segment files. Not thread-safe: one camera worker owns it."""

    def __init__(self, directory: Path, camera_id: str, *, codec: str, fps: float, segment_s: float) -> None:
        self.directory = directory
        self.camera_id = camera_id
        self.codec = codec
        self.fps = fps
        self.segment_s = segment_s
        self.writer: cv2.VideoWriter | None = None
        self.path: Path | None = None
        self.size: tuple[int, int] | None = None
        self.started_at = 0.0
        self.frames = 0
        self.closed_segments: list[Path] = []

    @property
    def current(self) -> Path | None:
        return self.path

    def write(self, frame: Frame, now: float, wall: float | None = None) -> Path | None:
        """Write ``frame`` taken at monotonic ``now``; returns the path of a segment this call closed."""
        closed = None
        if self.writer is not None and now - self.started_at >= self.segment_s - 1e-6:  # float sums of 1/fps
            closed = self._close()
        if self.writer is None:
            self._open(frame, now, time.time() if wall is None else wall)
        assert self.writer is not None and self.size is not None
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(frame)
        self.frames += 1
        return closed

    def _open(self, frame: Frame, now: float, wall: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        suffix = EXTENSIONS[self.codec]
        base = segment_name(self.camera_id, wall, suffix)[: -len(suffix)]
        path, n = self.directory / f"{base}{suffix}", 1
        while path.exists():
            path, n = self.directory / f"{base}-{n}{suffix}", n + 1
        size = (frame.shape[1], frame.shape[0])
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*self.codec), self.fps, size)
        if not writer.isOpened():
            writer.release()
            path.unlink(missing_ok=True)
            raise CameraError(f"cannot write {path.name} ({self.codec} {size[0]}x{size[1]})", ErrorCode.INTERNAL)
        self.writer, self.path, self.size, self.started_at, self.frames = writer, path, size, now, 0
        log.info("camera %s: recording to %s", self.camera_id, path.name)

    def _close(self) -> Path | None:
        path = self.path
        if self.writer is not None:
            self.writer.release()
        self.writer, self.path = None, None
        if path is not None:
            self.closed_segments.append(path)
            del self.closed_segments[:-16]
        return path

    def close(self) -> Path | None:
        """Finish the current segment (if any) and return its path."""
        return self._close()


class FrameClock:
    """Puts frames arriving at the camera's own rate onto a steady ``fps`` timeline, so recordings play at
    real speed and every segment holds ``segment_s`` of video: a frame that comes early is not recorded, a
    gap of up to ``max_fill_s`` is filled by repeating the frame, and after a longer outage the clock
    restarts at the next frame."""

    def __init__(self, fps: float, max_fill_s: float = 1.0) -> None:
        self.period = 1.0 / fps
        self.max_fill = max(1, round(fps * max_fill_s))
        self.next: float | None = None

    def slots(self, now: float) -> list[float]:
        """The video times at which the frame taken at ``now`` is written (none, one, or several)."""
        if self.next is None or now - self.next > (self.max_fill + 1) * self.period:
            self.next = now
        if now < self.next - self.period / 2:
            return []
        count = 1 + min(int((now - self.next) / self.period), self.max_fill)
        times = [self.next + i * self.period for i in range(count)]
        self.next += count * self.period
        return times

    def reset(self) -> None:
        self.next = None
