"""The camera manager: the service behind every ``cctv_*`` command, and the cameras' housekeeping.

It owns the camera registry (``<state_dir>/camera/cameras.json``), one :class:`CameraWorker` per camera,
the recordings store (retention, holds), and the MJPEG server. A housekeeping thread runs each camera's
watchdog every second and, every ``retention_interval_s``, retention by age and size plus the disk check:

* free space below ``disk_warn_free_mb`` -> ``cctv.disk_low`` (warning, once until it recovers);
* below ``disk_reserve_mb`` -> the oldest unheld recordings of any camera are deleted until the reserve is
  free again; if that is not enough -> ``cctv.disk_full`` (error) — recording is never stopped silently.

Events go to ``emit`` as shared :class:`~shared.messages.Event` messages (the agent publishes them).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel

from edge.agent.camera.central import CentralCameras
from edge.agent.camera.detect import detect_devices, device_resolutions, native_size
from edge.agent.camera.errors import CameraError
from edge.agent.camera.registry import CameraRegistry, config_document
from edge.agent.camera.snapshot import snapshot_data
from edge.agent.camera.storage import RecordingStore
from edge.agent.camera.streaming import MjpegServer
from edge.agent.camera.worker import CameraWorker
from edge.agent.config import CameraSettings
from shared.cctv import (
    CameraConfig,
    CameraRef,
    CleanupStorageParams,
    DetectCamerasParams,
    GetRecordingsParams,
    HoldRecordingParams,
    OptionalCameraRef,
    RecordingRef,
    SnapshotParams,
)
from shared.errors import ErrorCode
from shared.messages.enums import Severity
from shared.messages.structs import Event, build

log = logging.getLogger(__name__)

MB = 1024 * 1024
RECENT_EVENTS = 20


class CameraManager:
    def __init__(self, settings: CameraSettings, state_dir: Path, emit: Callable[[Event], object]) -> None:
        self.settings = settings
        root = settings.recordings_dir or Path("recordings")
        self.recordings_dir = root if root.is_absolute() else state_dir / root
        self.registry = CameraRegistry(state_dir / "camera" / "cameras.json", settings.max_cameras)
        self.store = RecordingStore(self.recordings_dir, state_dir / "camera" / "holds.json", self._active)
        self.publish = emit
        self.workers: dict[str, CameraWorker] = {}
        self.server: MjpegServer | None = None
        self.server_error: str | None = None
        self.lock = threading.RLock()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.latched: set[str] = set()
        self.recent: dict[str, collections.deque[dict[str, Any]]] = {}
        self.central = CentralCameras(self, state_dir / "camera" / "central.json")

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        try:
            self.server = MjpegServer(
                self.settings.stream_host, self.settings.stream_port, self.workers.get, self.store.resolve
            )
            self.server.start()
        except OSError as exc:
            self.server_error = f"cannot listen on {self.settings.stream_host}:{self.settings.stream_port}: {exc}"
            log.error("camera stream server: %s", self.server_error)
        for camera in self.registry.all():
            self._start_worker(camera)
        self.thread = threading.Thread(target=self._housekeeping, name="camera-housekeeping", daemon=True)
        self.thread.start()
        log.info("cameras: %d configured, recordings in %s", len(self.workers), self.recordings_dir)

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(5)
        with self.lock:
            for worker in self.workers.values():
                worker.stop()
        if self.server is not None:
            self.server.stop()

    def _start_worker(self, camera: CameraConfig) -> None:
        worker = CameraWorker(camera, self.recordings_dir, self._emitter(camera.camera_id))
        self.workers[camera.camera_id] = worker
        worker.start()

    def _active(self) -> set[Path]:
        return {p for w in list(self.workers.values()) if (p := w.active_segment()) is not None}

    # ------------------------------------------------------------ events

    def _emitter(self, camera_id: str) -> Callable[[str, Severity, str, dict[str, Any]], None]:
        def emit(kind: str, severity: Severity, message: str, data: dict[str, Any]) -> None:
            self.emit(kind, severity, f"camera {camera_id}: {message}", {"camera_id": camera_id, **data})

        return emit

    def emit(self, kind: str, severity: Severity, message: str, data: dict[str, Any]) -> None:
        event = build(Event, timestamp=time.time(), kind=kind, severity=severity, message=message[:2048], data=data)
        level = logging.INFO if severity is Severity.INFO else logging.WARNING
        log.log(level, "event %s: %s", kind, message)
        key = str(data.get("camera_id", ""))
        self.recent.setdefault(key, collections.deque(maxlen=RECENT_EVENTS)).append(
            {"timestamp": round(event.timestamp, 3), "kind": kind, "message": event.message})
        try:
            self.publish(event)
        except Exception:
            log.exception("could not publish event %s", kind)

    def _latch(self, key: str, on: bool, severity: Severity, message: str, data: dict[str, Any]) -> None:
        """Emit ``key`` when a condition starts and ``key_cleared`` when it ends (not on every check)."""
        if on and key not in self.latched:
            self.latched.add(key)
            self.emit(key, severity, message, data)
        elif not on and key in self.latched:
            self.latched.discard(key)
            self.emit(f"{key}_cleared", Severity.INFO, message, data)

    # ------------------------------------------------------------ housekeeping

    def _housekeeping(self) -> None:
        next_retention = 0.0
        while not self.stop_event.wait(1.0 if next_retention else 0.0):
            now = time.monotonic()
            with self.lock:
                workers = list(self.workers.values())
            for worker in workers:
                try:
                    worker.watchdog(now)
                except Exception:
                    log.exception("camera %s: watchdog failed", worker.camera_id)
            if now >= next_retention:
                next_retention = now + self.settings.retention_interval_s
                try:
                    self.enforce_retention()
                except Exception:
                    log.exception("retention failed")

    def enforce_retention(self) -> list[str]:
        deleted: list[str] = []
        for camera in self.registry.all():
            if camera.max_age_h is None and camera.max_bytes is None:
                continue
            deleted += self.store.enforce(
                camera.camera_id,
                max_age_s=camera.max_age_h * 3600 if camera.max_age_h is not None else None,
                max_bytes=camera.max_bytes,
            )
        deleted += self.check_disk()
        return deleted

    def check_disk(self) -> list[str]:
        reserve = self.settings.disk_reserve_mb * MB
        warn = self.settings.disk_warn_free_mb * MB
        free = self.store.disk()["free"]
        deleted: list[str] = []
        if free < reserve:
            deleted = self.store.free_space(reserve)
            if deleted:
                log.warning("disk below reserve: deleted %d oldest recording(s)", len(deleted))
            free = self.store.disk()["free"]
        recording = sorted(w.camera_id for w in self.workers.values() if w.recording)
        data = {"free_bytes": free, "reserve_bytes": reserve, "warn_bytes": warn, "recording": recording}
        self._latch("cctv.disk_full", free < reserve, Severity.ERROR,
                    f"recordings disk full: {free // MB} MB free, reserve {reserve // MB} MB; "
                    f"recording continues only as space allows ({len(recording)} camera(s) recording)", data)
        self._latch("cctv.disk_low", free < warn, Severity.WARNING,
                    f"recordings disk low: {free // MB} MB free (warning below {warn // MB} MB)", data)
        return deleted

    # ------------------------------------------------------------ commands

    def routes(self) -> dict[str, Callable[[BaseModel], Any]]:
        return {
            "cctv_detect_cameras": self.detect,
            "cctv_add_camera": self.add_camera,
            "cctv_remove_camera": self.remove_camera,
            "cctv_get_camera_resolutions": self.resolutions,
            "cctv_start_recording": lambda p: self.set_recording(p, True),
            "cctv_stop_recording": lambda p: self.set_recording(p, False),
            "cctv_start_streaming": lambda p: self.set_streaming(p, True),
            "cctv_stop_streaming": lambda p: self.set_streaming(p, False),
            "cctv_get_camera_state": self.camera_state,
            "cctv_get_all_states": self.all_states,
            "cctv_get_storage_info": self.storage_info,
            "cctv_cleanup_storage": self.cleanup,
            "cctv_get_recordings": self.recordings,
            "cctv_delete_recording": self.delete_recording,
            "cctv_hold_recording": self.hold_recording,
            "cctv_get_config": self.get_config,
            "cctv_snapshot": self.snapshot,
            "cctv_apply_config": self.central.apply,
        }

    def _worker(self, camera_id: str) -> CameraWorker:
        self.registry.get(camera_id)  # raises the clear "unknown camera" error
        return self.workers[camera_id]

    def detect(self, params: BaseModel) -> dict[str, Any]:
        p = cast(DetectCamerasParams, params)
        max_index = self.settings.probe_max_index if p.max_index is None else p.max_index
        in_use = {c.source: c.camera_id for c in self.registry.all() if isinstance(c.source, int)}
        devices = [{"index": i, "in_use_by": in_use[i]} for i in sorted(in_use) if i <= max_index]
        for found in detect_devices(max_index):
            if found["index"] not in in_use:
                devices.append({**found, "in_use_by": None})
        configured = [{"camera_id": w.camera_id, "source": str(w.config.source), "state": w.state}
                      for w in self.workers.values()]
        return {"devices": sorted(devices, key=lambda d: d["index"]), "configured": configured}

    def add_camera(self, params: BaseModel) -> dict[str, Any]:
        camera = cast(CameraConfig, params)
        source = camera.source
        if isinstance(source, str) and source.startswith("/") and not Path(source).is_file():
            raise CameraError(f"source {source}: no such file")
        if isinstance(source, int) and camera.width is not None and camera.height is not None:
            supported = device_resolutions(source)
            if supported is not None and (camera.width, camera.height) not in supported:
                sizes = ", ".join(f"{w}x{h}" for w, h in supported) or "none found"
                raise CameraError(f"bad resolution {camera.width}x{camera.height} for device {source} "
                                  f"(supported: {sizes})")
        with self.lock:
            self.registry.put(camera)
            old = self.workers.pop(camera.camera_id, None)
            if old is not None:
                old.stop()
            self._start_worker(camera)
        log.info("camera %s added: %s", camera.camera_id, source)
        return self.workers[camera.camera_id].state_data()

    def remove_camera(self, params: BaseModel) -> dict[str, Any]:
        camera_id = cast(CameraRef, params).camera_id
        with self.lock:
            self.registry.remove(camera_id)
            worker = self.workers.pop(camera_id, None)
        if worker is not None:
            worker.stop()
        log.info("camera %s removed (its recordings stay)", camera_id)
        return {"removed": camera_id}

    def resolutions(self, params: BaseModel) -> dict[str, Any]:
        camera = self.registry.get(cast(CameraRef, params).camera_id)
        if isinstance(camera.source, int):
            sizes = device_resolutions(camera.source)
            if sizes is None:
                raise CameraError(f"device {camera.source} cannot be opened now", ErrorCode.CONFLICT)
            return {"camera_id": camera.camera_id, "resolutions": [list(s) for s in sizes], "scaled": False}
        native = native_size(camera)
        if native is None:
            raise CameraError(f"source of camera {camera.camera_id} cannot be opened now", ErrorCode.CONFLICT)
        return {"camera_id": camera.camera_id, "resolutions": [list(native)], "scaled": True}

    def set_recording(self, params: BaseModel, on: bool) -> dict[str, Any]:
        camera_id = cast(CameraRef, params).camera_id
        with self.lock:
            camera = self.registry.get(camera_id).model_copy(update={"record": on})
            self.registry.put(camera)  # recording survives a restart of the agent
            worker = self.workers[camera_id]
            worker.config = camera
            worker.set_recording(on)
        return {"camera_id": camera_id, "recording": on}

    def set_streaming(self, params: BaseModel, on: bool) -> dict[str, Any]:
        worker = self._worker(cast(CameraRef, params).camera_id)
        if on and self.server is None:
            raise CameraError(f"stream server not running: {self.server_error}", ErrorCode.INTERNAL)
        worker.streaming = on
        url = self.server.url(worker.camera_id) if on and self.server is not None else None
        return {"camera_id": worker.camera_id, "streaming": on, "url": url}

    def camera_state(self, params: BaseModel) -> dict[str, Any]:
        worker = self._worker(cast(CameraRef, params).camera_id)
        return {**worker.state_data(), "events": list(self.recent.get(worker.camera_id, []))}

    def all_states(self, _params: BaseModel) -> dict[str, Any]:
        with self.lock:
            workers = sorted(self.workers.values(), key=lambda w: w.camera_id)
        return {"cameras": [w.state_data() for w in workers], "stream_server": self._server_data(),
                "storage_alerts": sorted(self.latched)}

    def storage_info(self, params: BaseModel) -> dict[str, Any]:
        camera_id = cast(OptionalCameraRef, params).camera_id
        cameras = [self.registry.get(camera_id)] if camera_id else self.registry.all()
        per: dict[str, Any] = {}
        for c in cameras:
            recs = self.store.recordings(c.camera_id)
            per[c.camera_id] = {"bytes": sum(r.size for r in recs), "count": len(recs),
                                "held": sum(r.held for r in recs), "max_bytes": c.max_bytes, "max_age_h": c.max_age_h}
        return {"recordings_dir": str(self.recordings_dir), "disk": self.store.disk(), "cameras": per,
                "warn_free_bytes": self.settings.disk_warn_free_mb * MB,
                "reserve_bytes": self.settings.disk_reserve_mb * MB, "alerts": sorted(self.latched)}

    def cleanup(self, params: BaseModel) -> dict[str, Any]:
        p = cast(CleanupStorageParams, params)
        cameras = [self.registry.get(p.camera_id)] if p.camera_id else self.registry.all()
        deleted: list[str] = []
        for c in cameras:
            max_age_h = p.max_age_h if p.max_age_h is not None else c.max_age_h
            max_bytes = p.max_bytes if p.max_bytes is not None else c.max_bytes
            deleted += self.store.enforce(c.camera_id, max_age_s=max_age_h * 3600 if max_age_h else None,
                                          max_bytes=max_bytes)
        return {"deleted": deleted, "count": len(deleted)}

    def recordings(self, params: BaseModel) -> dict[str, Any]:
        p = cast(GetRecordingsParams, params)
        if p.camera_id is not None:
            self.registry.get(p.camera_id)
        recs = list(reversed(self.store.recordings(p.camera_id)))
        return {"recordings": [r.to_data() for r in recs[: p.limit]], "total": len(recs)}

    def delete_recording(self, params: BaseModel) -> dict[str, Any]:
        return self.store.delete(cast(RecordingRef, params).name)

    def hold_recording(self, params: BaseModel) -> dict[str, Any]:
        p = cast(HoldRecordingParams, params)
        return self.store.hold(p.name, p.hold)

    def snapshot(self, params: BaseModel) -> dict[str, Any]:
        p = cast(SnapshotParams, params)
        got = self._worker(p.camera_id).jpeg(-1, timeout=2.0)
        if got is None:
            raise CameraError(f"camera {p.camera_id} has no frame yet", ErrorCode.CONFLICT)
        return snapshot_data(p.camera_id, got[1], p.upload_url)

    def get_config(self, _params: BaseModel) -> dict[str, Any]:
        server = self._server_data()
        if self.server is not None:
            server["token"] = self.server.token
        return {**config_document(self.registry.all()), "recordings_dir": str(self.recordings_dir),
                "max_cameras": self.settings.max_cameras, "stream_server": server}

    def _server_data(self) -> dict[str, Any]:
        if self.server is None:
            return {"running": False, "error": self.server_error}
        host, port = self.server.address
        return {"running": True, "host": host, "port": port}
