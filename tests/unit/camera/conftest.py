"""Fixtures for the camera part: a real :class:`CameraManager` on synthetic sources in a temporary state dir."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cv2.typing import MatLike

from edge.agent.camera.manager import CameraManager
from edge.agent.config import CameraSettings
from shared.commands import validate_params
from shared.messages.structs import Event

WAIT_S = 20.0


class Cameras:
    """A started manager plus what it emitted; ``call`` goes through the same validation as a command."""

    def __init__(self, state_dir: Path, **settings: Any) -> None:
        self.state_dir = state_dir
        self.events: list[Event] = []
        options = {"enabled": True, "stream_port": 0, "retention_interval_s": 3600, "disk_warn_free_mb": 0,
                   "disk_reserve_mb": 0, **settings}
        self.manager = CameraManager(CameraSettings(**options), state_dir, self.events.append)
        self.manager.start()

    def call(self, command: str, params: dict[str, Any] | None = None) -> Any:
        return self.manager.routes()[command](validate_params(command, params or {}))

    def add(self, camera_id: str, source: str, **extra: Any) -> dict[str, Any]:
        added: dict[str, Any] = self.call("cctv_add_camera", {"camera_id": camera_id, "source": source, "fps": 10,
                                                              **extra})
        return added

    def state(self, camera_id: str) -> dict[str, Any]:
        state: dict[str, Any] = self.call("cctv_get_camera_state", {"camera_id": camera_id})
        return state

    def kinds(self, camera_id: str | None = None) -> list[str]:
        return [e.kind for e in list(self.events) if camera_id is None or e.data.get("camera_id") == camera_id]

    def stop(self) -> None:
        self.manager.stop()


def decoded_jpeg(data: bytes) -> MatLike:
    """The picture in the JPEG ``data`` (BGR); fails the test when it is not one."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def wait_until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def cameras(tmp_path: Path) -> Iterator[Cameras]:
    cams = Cameras(tmp_path / "state")
    try:
        yield cams
    finally:
        cams.stop()
