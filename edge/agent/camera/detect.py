"""Finding cameras and what they can do: probe device indexes, probe standard resolutions.

Probing a device opens it (``isOpened()`` is False at once for an absent index; OpenCV's warnings are
silenced by ``OPENCV_LOG_LEVEL=ERROR``); a device busy in another process may be reported unavailable.
"""

from __future__ import annotations

from typing import Any

from edge.agent.camera.cv import cv2
from edge.agent.camera.sources import SYNTHETIC_SIZE
from shared.cctv import CameraConfig

STANDARD_RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (320, 240), (640, 480), (800, 600), (1024, 768), (1280, 720), (1280, 960), (1600, 1200), (1920, 1080),
    (2560, 1440), (3840, 2160),
)


def probe_device(index: int) -> dict[str, Any] | None:
    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return None
        return {"index": index, "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), "fps": float(cap.get(cv2.CAP_PROP_FPS))}
    finally:
        cap.release()


def detect_devices(max_index: int) -> list[dict[str, Any]]:
    return [found for i in range(max_index + 1) if (found := probe_device(i)) is not None]


def native_size(config: CameraConfig) -> tuple[int, int] | None:
    """The size frames arrive at from a non-device source (None if it cannot be opened)."""
    source = config.source
    if isinstance(source, str) and source.startswith("synthetic:"):
        return SYNTHETIC_SIZE
    cap = cv2.VideoCapture(str(source))
    try:
        if not cap.isOpened():
            return None
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()


def device_resolutions(index: int) -> list[tuple[int, int]] | None:
    """The standard resolutions the device accepts (asks for each, reads back what it set)."""
    cap = cv2.VideoCapture(index)
    try:
        if not cap.isOpened():
            return None
        found: set[tuple[int, int]] = set()
        for width, height in STANDARD_RESOLUTIONS:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if got == (width, height):
                found.add(got)
        return sorted(found)
    finally:
        cap.release()
