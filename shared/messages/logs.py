"""Cloud -> LMS on ``site_down(ns, site, SiteDown.LOGS)``: upload the LMS's own logs of a range (docs/logs.md).

An agent's logs travel as the ``get_logs`` command (through the LMS, like any command); the LMS's own take this
message, which carries the same :class:`~shared.log_export.LogRange` and a presigned POST for one object key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.log_export import LogRange, PresignedPost
from shared.messages.base import SCHEMA_VERSION
from shared.messages.command import REQUEST_ID_PATTERN


class LogRequest(LogRange):
    """``{"type": "log_request", "request_id", "since", "until", "level", "max_bytes", "upload", "expires_at"}``."""

    v: Literal[1] = SCHEMA_VERSION
    type: Literal["log_request"] = "log_request"
    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description="the cloud's log request id")
    upload: PresignedPost
    expires_at: float = Field(ge=0, description="the upload form's expiry (epoch s): dropped after it")
