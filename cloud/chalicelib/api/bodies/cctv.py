"""The request bodies of the routes of ``chalicelib/api/cctv.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.api.bodies.request_body import RequestBody
from shared.cctv import central_source_error

#: printable ASCII after the scheme (``\s`` is not the same class in Python and in JSON Schema's ECMA regexes)
URL_PATTERN = r"^(rtsp|rtsps|http|https)://[!-~]{1,2000}$"
_URL_RE = re.compile(URL_PATTERN)
SYNTHETIC_PATTERN = r"^synthetic:(moving|frozen|black)$"
_SYNTHETIC_RE = re.compile(SYNTHETIC_PATTERN)


class CameraConfigBody(RequestBody):
    """``PUT /api/cctv/agents/{agent_id}/cameras/{camera_id}``: the desired configuration of one camera."""

    name: str = Field(min_length=1, max_length=128)
    #: a local device index, a stream URL or a test pattern; never a file (docs/cctv.md, "Camera configuration from
    #: the cloud"): the agent would open any file of the PC it is given
    source: int | str = Field(
        description="device index 0-63, an rtsp/http(s) URL, or synthetic:moving|frozen|black",
        json_schema_extra={
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": 63},
                {"type": "string", "pattern": URL_PATTERN},
                {"type": "string", "pattern": SYNTHETIC_PATTERN},
            ]
        },
    )
    enabled: bool = True
    width: int = Field(default=1280, ge=160, le=3840)
    height: int = Field(default=720, ge=120, le=2160)
    fps: int = Field(default=15, ge=1, le=60)
    codec: Literal["mp4v", "MJPG", "VP8"] = "mp4v"
    record: bool = False
    segment_s: int = Field(default=300, ge=10, le=3600)
    retention_days: int = Field(default=7, ge=1, le=365)

    @field_validator("source")
    @classmethod
    def _source(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 0 <= v <= 63:
            raise ValueError("a device index must be between 0 and 63")
        if isinstance(v, str) and not (_URL_RE.fullmatch(v) or _SYNTHETIC_RE.fullmatch(v)):
            raise ValueError(
                "a URL must be rtsp://, rtsps://, http:// or https:// (or a test pattern "
                "synthetic:moving|frozen|black); a file is set on site only"
            )
        refused = central_source_error(v)
        if refused is not None:
            raise ValueError(refused)
        return v


class SnapshotBody(RequestBody):
    """``POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot`` (the body may be empty)."""

    get_expires_s: int = Field(
        default=3600, ge=60, le=7 * 24 * 3600, description="how long the returned get_url stays valid (seconds)"
    )
