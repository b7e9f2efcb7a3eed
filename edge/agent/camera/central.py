"""The cameras set in the cloud: ``cctv_apply_config`` (docs/cctv.md#camera-configuration-from-the-cloud).

The LMS relays the agent's ``cctv:`` shadow as :class:`~shared.cctv.CamerasDesired` (``rev`` and the whole list of
cameras the cloud wants). :meth:`CentralCameras.apply` takes each camera on its own: a camera that is valid
(:class:`~shared.cctv.CameraConfig`, a source the cloud may set, what this agent can run) is added, reconfigured or
left alone when unchanged — only its own worker is (re)started; one that is not is reported ``rejected`` with the
reason and changes nothing (a camera it would have replaced keeps running as it was). Cameras the cloud managed
before and no longer lists are removed (their recordings stay); cameras added on site, never named by the cloud,
are left alone. The revision and the cameras the cloud manages are kept in ``<state_dir>/camera/central.json``;
an older revision than the one applied is refused (``conflict``), so a late copy never undoes a newer one.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from edge.agent.camera.errors import CameraError
from edge.agent.camera.storage import atomic_write_json
from shared.cctv import (
    CameraConfig,
    CameraRef,
    CameraResult,
    CamerasDesired,
    CamerasReported,
    central_source_error,
    cut_reason,
)
from shared.errors import ErrorCode
from shared.messages.base import describe_validation_error

if TYPE_CHECKING:
    from edge.agent.camera.manager import CameraManager

log = logging.getLogger(__name__)


class CentralCameras:
    def __init__(self, manager: CameraManager, path: Path) -> None:
        self._manager = manager
        self.path = path
        self._lock = threading.Lock()
        self.rev, self.managed = self._load()

    def _load(self) -> tuple[int, set[str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            rev, managed = data["rev"], data["managed"]
            if not isinstance(rev, int) or not isinstance(managed, list) or not all(isinstance(m, str)
                                                                                   for m in managed):
                raise ValueError("expected {'rev': int, 'managed': [camera ids]}")
            return rev, set(managed)
        except FileNotFoundError:
            return -1, set()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("central camera state %s unusable (%s): the next configuration from the cloud is taken "
                      "whatever its revision", self.path, exc)
            return -1, set()

    def apply(self, params: BaseModel) -> dict[str, Any]:
        desired = cast(CamerasDesired, params)
        with self._lock:
            if desired.rev < self.rev:
                raise CameraError(f"stale camera configuration: revision {desired.rev} is older than the applied "
                                  f"revision {self.rev}", ErrorCode.CONFLICT)
            wanted = {str(c["camera_id"]) for c in desired.cameras}
            removed = [c for c in sorted(self.managed - wanted) if self._remove(c)]
            applied = [self._apply_one(raw) for raw in desired.cameras]
            managed = {r.camera_id for r in applied if r.status == "applied"}
            managed |= {r.camera_id for r in applied if r.status == "rejected" and r.camera_id in self.managed
                        and r.camera_id in self._manager.registry.cameras}
            self._save(desired.rev, managed)
            rejected = [r.camera_id for r in applied if r.status == "rejected"]
            log.info("cameras from the cloud, revision %d: %d applied, %d rejected%s, %d removed", desired.rev,
                     len(applied) - len(rejected), len(rejected), f" ({', '.join(rejected)})" if rejected else "",
                     len(removed))
            return CamerasReported(rev=desired.rev, cameras=applied).model_dump(mode="json", exclude_none=True)

    def _remove(self, camera_id: str) -> bool:
        if camera_id not in self._manager.registry.cameras:
            return False
        self._manager.remove_camera(CameraRef(camera_id=camera_id))
        log.info("camera %s: no longer set in the cloud, removed (its recordings stay)", camera_id)
        return True

    def _apply_one(self, raw: dict[str, Any]) -> CameraResult:
        camera_id = str(raw["camera_id"])
        try:
            camera = CameraConfig.model_validate(raw)
        except ValidationError as exc:
            return _rejected(camera_id, describe_validation_error(exc))
        refused = central_source_error(camera.source)
        if refused is not None:
            return _rejected(camera_id, refused)
        current = self._manager.registry.cameras.get(camera_id)
        try:
            if current is None or current.model_copy(update={"record": camera.record}) != camera:
                self._manager.add_camera(camera)  # (re)starts this camera's worker only
            elif current.record != camera.record:
                self._manager.set_recording(CameraRef(camera_id=camera_id), camera.record)
        except CameraError as exc:
            return _rejected(camera_id, exc.message)
        except Exception as exc:  # one camera's failure never stops the others'
            log.exception("camera %s from the cloud could not be applied", camera_id)
            return _rejected(camera_id, f"could not apply it: {exc}")
        return CameraResult(camera_id=camera_id, status="applied")

    def _save(self, rev: int, managed: set[str]) -> None:
        atomic_write_json(self.path, {"rev": rev, "managed": sorted(managed)})
        self.rev, self.managed = rev, managed


def _rejected(camera_id: str, reason: str) -> CameraResult:
    log.warning("camera %s from the cloud rejected: %s", camera_id, reason)
    return CameraResult(camera_id=camera_id, status="rejected", reason=cut_reason(reason))
