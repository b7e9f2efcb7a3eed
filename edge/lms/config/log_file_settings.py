"""``[log_file]``: the LMS's own log, kept in a rotating file beside its database so the cloud can ask for a range
of it (docs/logs.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LogFileSettings(BaseModel):
    """``<db_path's directory>/logs/lms.log``, rotated by size; stderr keeps getting every line as before."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="keep the LMS's log in a file (logs on request read it)")
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=64 * 1024, le=1024**3, description="rotate at this size")
    backups: int = Field(default=5, ge=1, le=50, description="rotated files kept")
