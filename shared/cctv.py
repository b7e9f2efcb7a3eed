"""Parameters of the ``cctv_*`` commands (docs/seeds.md, "Commands") and the camera configuration an agent keeps.

:class:`CameraConfig` is both the ``cctv_add_camera`` parameters and one entry of the agent's camera file;
it stays small and self-contained so the whole file can ride in a device shadow. Re-exported by
:mod:`shared.commands`, which lists the commands. See docs/cctv.md.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared.messages.base import Strict

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
RECORDING_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
MAX_CAMERA_INDEX = 63


def _camera_id(value: Any) -> Any:
    """ClassTop addresses cameras by index: an integer id (also ``5.0``: JSON has one kind of number) is accepted
    and kept as its decimal string."""
    if isinstance(value, float) and value.is_integer() and 0 <= value <= 10**31:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


#: ``camera_id`` as JSON Schema says it: an id, or a non-negative integer (kept as its decimal string).
_CAMERA_ID_SCHEMA: dict[str, Any] = {"type": ["string", "integer"], "minimum": 0, "maximum": 10**31}


class CameraRef(Strict):
    camera_id: str = Field(pattern=CAMERA_ID_PATTERN, description="a configured camera's id",
                           json_schema_extra=_CAMERA_ID_SCHEMA)  # fmt: skip

    @field_validator("camera_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return _camera_id(v)


class OptionalCameraRef(Strict):
    camera_id: str | None = Field(default=None, pattern=CAMERA_ID_PATTERN, description="one camera, or all",
                                  json_schema_extra=_CAMERA_ID_SCHEMA)  # fmt: skip

    @field_validator("camera_id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> Any:
        return _camera_id(v)


def _even(schema: dict[str, Any]) -> None:
    """``width``/``height`` as JSON Schema says them: an even integer when given (null is not documented: both or
    neither is said by ``dependentRequired``)."""
    (number,) = [s for s in schema.pop("anyOf") if s.get("type") == "integer"]
    schema.update(number, multipleOf=2)
    schema.pop("default", None)


#: A character of a source URL: not a space (neither in Python's sense nor in JSON Schema's, which differ).
_URL_CHAR = r"[^\s\x1c-\x1f\x85\ufeff]"
#: ``source`` as JSON Schema says it (:meth:`CameraConfig._source` checks the same).
_SOURCE_SCHEMA: list[Any] = [
    {"type": "integer", "minimum": 0, "maximum": MAX_CAMERA_INDEX},
    {"type": "string", "maxLength": 1024,
     "pattern": rf"^(?:0*(?:[0-9]|[1-5][0-9]|6[0-3])|(?:rtsp|rtsps|http|https)://{_URL_CHAR}+"
                r"|synthetic:(?:moving|frozen|black)|/[^\n\x00]*)$"},
]  # fmt: skip


class CameraConfig(CameraRef):
    """One camera as the agent keeps it (and as it will ride in a device shadow): small and self-contained.

    ``source`` is a local device index (``0``..``63``), a URL (``rtsp://``, ``http://``, ``https://``), an
    absolute path of a video file (looped, paced at ``fps``), or a test pattern ``synthetic:<moving|frozen|
    black>``. ``width``/``height`` ask the device for a resolution (both or neither).
    """

    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"width": ["height"], "height": ["width"]}})

    name: str = Field(default="", max_length=64)
    source: int | str = Field(description="device index, rtsp/http URL, absolute file path, or synthetic:...",
                              json_schema_extra={"anyOf": _SOURCE_SCHEMA})  # fmt: skip
    width: int | None = Field(default=None, ge=16, le=7680, json_schema_extra=_even)
    height: int | None = Field(default=None, ge=16, le=4320, json_schema_extra=_even)
    fps: float = Field(default=15.0, gt=0, le=60, description="frames per second recorded and streamed")
    codec: Literal["mp4v", "MJPG"] = Field(default="mp4v", description="mp4v -> .mp4, MJPG -> .avi")
    segment_s: float = Field(default=300.0, ge=1, le=3600, description="a new recording file every this long")
    record: bool = Field(default=False, description="record whenever the agent runs")
    max_age_h: float | None = Field(default=None, gt=0, le=24 * 366, description="delete recordings older")
    max_bytes: int | None = Field(default=None, ge=1024 * 1024, description="keep this camera's recordings under")
    frozen_s: float = Field(default=10.0, ge=1, le=3600, description="unchanged frames this long -> cctv.frozen")
    dark_level: float = Field(default=12.0, ge=0, le=255, description="mean brightness below -> cctv.covered")
    blur_level: float = Field(default=8.0, ge=0, le=100000, description="Laplacian variance below -> blurred")
    no_frames_s: float = Field(default=5.0, ge=0.5, le=600, description="no frame this long -> restart capture")

    @field_validator("source")
    @classmethod
    def _source(cls, v: int | str) -> int | str:
        if isinstance(v, int):
            if not 0 <= v <= MAX_CAMERA_INDEX:
                raise ValueError(f"device index must be 0..{MAX_CAMERA_INDEX}")
            return v
        if len(v) > 1024 or "\0" in v or "\n" in v:
            raise ValueError("source too long or not a single line")
        if v.isascii() and v.isdigit():
            return cls._source(int(v))
        if re.match(rf"^(rtsp|rtsps|http|https)://{_URL_CHAR}+$", v):
            return v
        if re.match(r"^synthetic:(moving|frozen|black)$", v):
            return v
        if v.startswith("/"):
            return v
        raise ValueError("source must be a device index, an rtsp/http(s) URL, an absolute file path or synthetic:...")

    @model_validator(mode="after")
    def _resolution(self) -> Self:
        if (self.width is None) != (self.height is None):
            raise ValueError("bad resolution: give both width and height, or neither")
        if self.width is not None and self.height is not None and (self.width % 2 or self.height % 2):
            raise ValueError(f"bad resolution {self.width}x{self.height}: width and height must be even")
        return self


class DetectCamerasParams(Strict):
    max_index: int | None = Field(default=None, ge=0, le=MAX_CAMERA_INDEX, description="probe indexes 0..this")


class CleanupStorageParams(OptionalCameraRef):
    max_age_h: float | None = Field(default=None, gt=0, le=24 * 366, description="override the camera's age")
    max_bytes: int | None = Field(default=None, ge=0, description="override the camera's size limit")


class GetRecordingsParams(OptionalCameraRef):
    limit: int = Field(default=500, ge=1, le=5000)


class RecordingRef(Strict):
    name: str = Field(pattern=RECORDING_NAME_PATTERN, description="'<camera_id>/<file>' as listed")


class HoldRecordingParams(RecordingRef):
    hold: bool = Field(default=True, description="true: cleanup never deletes it; false: release")


class SnapshotParams(CameraRef):
    upload_url: str | None = Field(
        default=None, max_length=4096, pattern=r"^https?://\S+$",
        description="PUT the JPEG here (e.g. a presigned S3 URL); without it the JPEG comes back inline",
    )


# ---------------------------------------------------------------- camera configuration from the cloud

#: At most this many cameras in one centrally set configuration (the cloud's limit per agent is lower).
MAX_CENTRAL_CAMERAS = 64
#: A rejection reason is cut to this many UTF-8 bytes, so that an agent's reported state fits its shadow.
MAX_REASON_BYTES = 120
CENTRAL_SOURCE_RULE = "a device index 0-63, an rtsp://, rtsps://, http:// or https:// URL, or synthetic:<pattern>"


def central_source_error(source: Any) -> str | None:
    """Why ``source`` may not be set from the cloud, or ``None``. The cloud may name a device, a stream URL or a test
    pattern, never a file: a file path is set on site only (``cctv_add_camera``), so that nobody outside the site
    makes an agent open (and then show, or upload as a snapshot) a file of the PC."""
    if isinstance(source, bool) or not isinstance(source, (int, str)):
        return f"source must be {CENTRAL_SOURCE_RULE}"
    if isinstance(source, str) and (source.startswith("/") or not re.match(
            r"^((rtsp|rtsps|http|https)://[^\s]+|synthetic:(moving|frozen|black)|[0-9]+)$", source)):
        return f"source {source[:64]!r} cannot be set from the cloud: use {CENTRAL_SOURCE_RULE}"
    return None


def cut_reason(reason: str) -> str:
    """``reason`` on one line, at most :data:`MAX_REASON_BYTES` bytes of UTF-8 (cut on a character boundary)."""
    line = " ".join(reason.split())
    raw = line.encode()
    if len(raw) <= MAX_REASON_BYTES:
        return line
    return raw[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


class CamerasDesired(Strict):
    """The cameras the cloud wants on one agent (``state.desired`` of its ``cctv:`` shadow, and the params of
    ``cctv_apply_config``). ``rev`` only grows; each camera is a ``CameraConfig`` as JSON, checked by the agent
    itself — one it cannot take is reported rejected, with the reason, and the others are applied."""

    v: Literal[1] = 1
    rev: int = Field(ge=0, le=2**53, description="the cloud's revision of this agent's camera configuration")
    cameras: list[dict[str, Any]] = Field(max_length=MAX_CENTRAL_CAMERAS, description="CameraConfig objects")

    @field_validator("cameras")
    @classmethod
    def _ids(cls, cameras: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        for camera in cameras:
            camera_id = camera.get("camera_id")
            if not isinstance(camera_id, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", camera_id):
                raise ValueError(f"every camera needs a camera_id (1-64 of A-Z a-z 0-9 _ -), not {camera_id!r}")
            if camera_id in seen:
                raise ValueError(f"camera {camera_id} is listed twice")
            seen.add(camera_id)
        return cameras


class CameraResult(Strict):
    """How one centrally set camera fared on the agent."""

    camera_id: str = Field(min_length=1, max_length=64)
    status: Literal["applied", "rejected"]
    reason: str | None = Field(default=None, max_length=MAX_REASON_BYTES, description="why it was rejected")


class CamerasReported(Strict):
    """What the agent did with a :class:`CamerasDesired` (the answer of ``cctv_apply_config``; ``state.reported``
    of the ``cctv:`` shadow)."""

    v: Literal[1] = 1
    rev: int = Field(ge=0, le=2**53, description="the revision applied")
    cameras: list[CameraResult] = Field(max_length=MAX_CENTRAL_CAMERAS)
