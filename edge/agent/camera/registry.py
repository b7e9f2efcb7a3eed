"""The cameras this agent has: ``<state_dir>/camera/cameras.json``, written atomically on every change.

The file is the agent's whole camera configuration — small and self-contained (defaults left out), so it
can ride unchanged in a device shadow (limit :data:`MAX_CONFIG_BYTES`, well under a shadow's 8 KB).
A corrupt file is moved aside (``cameras.json.bad``) and the agent starts with no cameras.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.agent.camera.errors import CameraError
from edge.agent.camera.storage import atomic_write_json
from shared.cctv import CameraConfig
from shared.messages.base import describe_validation_error

log = logging.getLogger(__name__)

CONFIG_VERSION = 1
MAX_CONFIG_BYTES = 6 * 1024


def config_document(cameras: list[CameraConfig]) -> dict[str, Any]:
    return {"v": CONFIG_VERSION, "cameras": [c.model_dump(mode="json", exclude_defaults=True) for c in cameras]}


class CameraRegistry:
    def __init__(self, path: Path, max_cameras: int) -> None:
        self.path = path
        self.max_cameras = max_cameras
        self.lock = threading.Lock()
        self.cameras: dict[str, CameraConfig] = self._load()

    def _load(self) -> dict[str, CameraConfig]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
                raise ValueError("expected {'v': 1, 'cameras': [...]}")
            cameras = [CameraConfig.model_validate(c) for c in data["cameras"]]
            return {c.camera_id: c for c in cameras}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, ValidationError) as exc:
            why = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            bad = self.path.with_name(self.path.name + ".bad")
            log.error("camera config %s unusable (%s): moved to %s, starting with no cameras", self.path, why, bad)
            with contextlib.suppress(OSError):
                self.path.replace(bad)
            return {}

    def get(self, camera_id: str) -> CameraConfig:
        camera = self.cameras.get(camera_id)
        if camera is None:
            known = ", ".join(sorted(self.cameras)) or "none"
            raise CameraError(f"unknown camera {camera_id!r} (configured: {known})")
        return camera

    def all(self) -> list[CameraConfig]:
        return sorted(self.cameras.values(), key=lambda c: c.camera_id)

    def put(self, camera: CameraConfig) -> None:
        with self.lock:
            cameras = dict(self.cameras)
            if camera.camera_id not in cameras and len(cameras) >= self.max_cameras:
                raise CameraError(f"this agent already has {len(cameras)} cameras (max_cameras)")
            cameras[camera.camera_id] = camera
            self._save(cameras)

    def remove(self, camera_id: str) -> CameraConfig:
        with self.lock:
            camera = self.get(camera_id)
            cameras = {k: v for k, v in self.cameras.items() if k != camera_id}
            self._save(cameras)
            return camera

    def _save(self, cameras: dict[str, CameraConfig]) -> None:
        doc = config_document(sorted(cameras.values(), key=lambda c: c.camera_id))
        size = len(json.dumps(doc, separators=(",", ":")).encode())
        if size > MAX_CONFIG_BYTES:
            raise CameraError(f"camera configuration would be {size} bytes (limit {MAX_CONFIG_BYTES})")
        atomic_write_json(self.path, doc)
        self.cameras = cameras
