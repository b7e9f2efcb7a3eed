"""One camera: a capture thread feeding the recorder, the live view and the health monitor, plus a watchdog.

Errors are contained: anything a source or the encoder raises is logged, reported as a ``cctv.error``
event, and capture is reopened with a growing back-off (0.5 s .. 10 s). The capture thread reopens the
source itself when reads fail for ``no_frames_s``; :meth:`CameraWorker.watchdog` (called every second by
the manager) restarts a thread that died or is stuck inside a driver call (open or read) for more than
``2 * no_frames_s + 1`` seconds — a source that keeps hanging is retried ever more slowly, up to every 5
minutes — and restarts capture once when the image freezes. Restarting bumps a generation number: an
abandoned thread that wakes up later sees it and exits without touching anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.agent.camera.cv import Frame, cv2
from edge.agent.camera.errors import CameraError
from edge.agent.camera.health import HealthMonitor
from edge.agent.camera.recorder import FrameClock, SegmentRecorder
from edge.agent.camera.sources import FrameSource, open_source
from shared.cctv import CameraConfig
from shared.messages.enums import Severity

log = logging.getLogger(__name__)

Emit = Callable[[str, Severity, str, dict[str, Any]], None]
JPEG_QUALITY = 80
MAX_BACKOFF_S = 10.0
CONFIRM_S = 3.0  # covered/blurred must last min(this, frozen_s)


class CameraWorker:
    def __init__(
        self,
        config: CameraConfig,
        recordings_root: Path,
        emit: Emit,
        opener: Callable[[CameraConfig, threading.Event], FrameSource] = open_source,
    ) -> None:
        self.config = config
        self.opener = opener
        self.blocked_since: float | None = None  # set while the capture thread is inside open() or read()
        self.stuck_wait = 0.0
        self.camera_id = config.camera_id
        self.directory = recordings_root / config.camera_id
        self.emit = emit
        self.lock = threading.Lock()
        self.frame_ready = threading.Condition(self.lock)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.generation = 0
        self.state = "stopped"
        self.error: str | None = None
        self.recording = config.record
        self.streaming = False
        self.recorder: SegmentRecorder | None = None
        self.clock = FrameClock(config.fps)
        self.record_failed = False
        self.health = HealthMonitor(
            frozen_s=config.frozen_s, dark_level=config.dark_level, blur_level=config.blur_level,
            confirm_s=min(CONFIRM_S, config.frozen_s),
        )
        self.latest: Frame | None = None
        self.seq = 0
        self.jpeg_cache: tuple[int, bytes] | None = None
        self.frames = 0
        self.recorded = 0
        self.last_frame_at = time.monotonic()
        self.fps_measured = 0.0
        self.no_frames = False
        self.frozen_restarted = False
        self.restarts = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self.lock:
            self.generation += 1
            gen = self.generation
            self.last_frame_at = time.monotonic()
            self.blocked_since = None
        self.stop_event.clear()
        self.state = "starting"
        self.thread = threading.Thread(target=self._run, args=(gen,), name=f"camera-{self.camera_id}", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        with self.frame_ready:
            self.frame_ready.notify_all()
        if self.thread is not None:
            self.thread.join(timeout)
        self._finish_segment()
        self.state = "stopped"

    def restart(self, why: str) -> None:
        log.warning("camera %s: restarting capture: %s", self.camera_id, why)
        self.restarts += 1
        self._finish_segment()
        self.start()

    def watchdog(self, now: float) -> None:
        """Restart a dead or stuck capture thread; restart capture once per frozen episode."""
        if self.stop_event.is_set():
            return
        if self.thread is None or not self.thread.is_alive():
            self.restart("capture thread ended")
            return
        blocked = self.blocked_since
        limit = 2 * self.config.no_frames_s + 1
        if blocked is not None and now - blocked > max(limit, self.stuck_wait):
            # stuck inside a driver call: abandon that thread (it exits when it wakes) and start another;
            # a source that keeps hanging is retried ever more slowly (up to every 5 minutes)
            self.stuck_wait = min(max(limit, self.stuck_wait) * 2, 300.0)
            self._report_no_frames(f"capture stuck for {now - blocked:.0f} s in the camera driver")
            self.restart("capture stuck")
        elif "frozen" in self.health.active and not self.frozen_restarted:
            self.frozen_restarted = True
            self.restart("image frozen")

    # ------------------------------------------------------------ capture thread

    def _run(self, gen: int) -> None:
        backoff = 0.5
        while self._current(gen):
            self.blocked_since = time.monotonic()
            try:
                source = self.opener(self.config, self.stop_event)
            except Exception as exc:
                if not self._current(gen):
                    return  # abandoned by the watchdog while opening: touch nothing
                self.blocked_since = None
                why = exc.message if isinstance(exc, CameraError) else f"{type(exc).__name__}: {exc}"
                self.state, self.error = "reconnecting", why
                self._report_no_frames(why)
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if not self._current(gen):
                source.release()
                return
            self.blocked_since = None
            self.state, self.error = "running", None
            self.health.reset()
            try:
                self._capture(source, gen)
                backoff = 0.5
            except Exception as exc:
                if not self._current(gen):
                    return
                log.exception("camera %s: capture failed", self.camera_id)
                self.blocked_since = None
                self.state, self.error = "reconnecting", f"{type(exc).__name__}: {exc}"
                self.emit("cctv.error", Severity.ERROR, f"capture failed: {self.error}", {})
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            finally:
                source.release()
                if self._current(gen):
                    self._finish_segment()

    def _current(self, gen: int) -> bool:
        return not self.stop_event.is_set() and gen == self.generation

    def _capture(self, source: FrameSource, gen: int) -> None:
        last = time.monotonic()
        while self._current(gen):
            self.blocked_since = time.monotonic()
            frame = source.read()
            now = time.monotonic()
            if not self._current(gen):
                return  # abandoned by the watchdog while blocked: touch nothing
            self.blocked_since = None
            if frame is None:
                if now - last >= self.config.no_frames_s:
                    self._report_no_frames(f"no frame for {now - last:.1f} s: reopening")
                    return
                self.stop_event.wait(0.02)
                continue
            last = now
            self.stuck_wait = 0.0
            self._on_frame(frame, now)

    def _on_frame(self, frame: Frame, now: float) -> None:
        with self.frame_ready:
            interval = now - self.last_frame_at
            self.fps_measured = 0.9 * self.fps_measured + 0.1 / interval if interval > 0 else self.fps_measured
            self.latest, self.last_frame_at = frame, now
            self.seq += 1
            self.frames += 1
            self.frame_ready.notify_all()
        if self.no_frames:
            self.no_frames = False
            self.emit("cctv.no_frames_cleared", Severity.INFO, "frames are arriving again", {})
        self._record(frame, now)
        for event in self.health.feed(frame, now):
            if event.kind == "cctv.frozen_cleared":
                self.frozen_restarted = False
            self.emit(event.kind, event.severity, event.message, event.data)

    def _report_no_frames(self, why: str) -> None:
        if not self.no_frames:
            self.no_frames = True
            self.emit("cctv.no_frames", Severity.ERROR, why, {})

    # ------------------------------------------------------------ recording

    def _record(self, frame: Frame, now: float) -> None:
        with self.lock:
            if not self.recording:
                if self.recorder is not None:
                    self.recorder.close()
                    self.recorder = None
                return
            if self.recorder is None:
                c = self.config
                self.recorder = SegmentRecorder(self.directory, c.camera_id, codec=c.codec, fps=c.fps,
                                                segment_s=c.segment_s)
                self.clock = FrameClock(c.fps)
            try:
                for t in self.clock.slots(now):
                    self.recorder.write(frame, t)
                    self.recorded += 1
            except (CameraError, OSError) as exc:
                self.recorder.close()
                self.recorder = None
                if not self.record_failed:
                    self.record_failed = True
                    why = exc.message if isinstance(exc, CameraError) else str(exc)
                    self.emit("cctv.record_error", Severity.ERROR, f"recording failed: {why}", {})
                return
            if self.record_failed:
                self.record_failed = False
                self.emit("cctv.record_error_cleared", Severity.INFO, "recording again", {})

    def _finish_segment(self) -> None:
        with self.lock:
            if self.recorder is not None:
                self.recorder.close()
                self.recorder = None

    def set_recording(self, on: bool) -> None:
        with self.lock:
            self.recording = on
            if not on and self.recorder is not None:
                self.recorder.close()
                self.recorder = None

    def active_segment(self) -> Path | None:
        with self.lock:
            return self.recorder.current if self.recorder is not None else None

    # ------------------------------------------------------------ live view

    def jpeg(self, after_seq: int = -1, timeout: float = 2.0) -> tuple[int, bytes] | None:
        """The newest frame as JPEG, waiting up to ``timeout`` for one newer than ``after_seq``."""
        with self.frame_ready:
            self.frame_ready.wait_for(lambda: self.seq > after_seq or self.stop_event.is_set(), timeout)
            if self.latest is None or self.seq <= after_seq:
                return None
            if self.jpeg_cache is not None and self.jpeg_cache[0] == self.seq:
                return self.jpeg_cache
            seq, frame = self.seq, self.latest
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return None
        result = (seq, buf.tobytes())
        with self.lock:
            self.jpeg_cache = result
        return result

    # ------------------------------------------------------------ state

    def state_data(self) -> dict[str, Any]:
        now = time.monotonic()
        with self.lock:
            latest = self.latest
            segment = self.recorder.current if self.recorder is not None else None
        return {
            "camera_id": self.camera_id,
            "name": self.config.name,
            "source": str(self.config.source),
            "state": self.state,
            "error": self.error,
            "recording": self.recording,
            "streaming": self.streaming,
            "resolution": [int(latest.shape[1]), int(latest.shape[0])] if latest is not None else None,
            "fps": round(self.fps_measured, 1),
            "frames": self.frames,
            "recorded_frames": self.recorded,
            "last_frame_age_s": round(now - self.last_frame_at, 1) if self.frames else None,
            "segment": f"{self.camera_id}/{segment.name}" if segment is not None else None,
            "health": sorted(self.health.active),
            "measures": dict(self.health.measures),
            "restarts": self.restarts,
        }
