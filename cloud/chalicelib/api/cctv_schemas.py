"""Request bodies of the CCTV API, and the site-events message the ``site_events`` rule handler takes."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from shared.messages import Strict

MAX_CAMERAS_PER_AGENT = 32
URL_PATTERN = r"^(rtsp|rtsps|http|https)://[^\s]{1,2000}$"
_URL_RE = re.compile(URL_PATTERN)


class CameraConfigBody(Strict):
    """``PUT /api/cctv/agents/{agent_id}/cameras/{camera_id}``: the desired configuration of one camera."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=128)
    #: a local device index, or a stream URL
    source: int | str = Field(description="device index 0-63 or an rtsp/http(s) URL")
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
        if isinstance(v, str) and not _URL_RE.match(v):
            raise ValueError("a URL must be rtsp://, rtsps://, http:// or https://")
        return v




class SnapshotBody(Strict):
    """``POST /api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot`` (the body may be empty)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    get_expires_s: int = Field(default=3600, ge=60, le=7 * 24 * 3600,
                               description="how long the returned get_url stays valid (seconds)")
