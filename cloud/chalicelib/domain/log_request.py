"""A log request: the cloud asked an agent (``get_logs`` with an upload form) or an LMS (``log_request``) for the
records of a range; they arrive gzipped as one object of the media bucket (docs/logs.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.log_export import LogRange


class LogRequestStatus(StrEnum):
    PENDING = "pending"  # asked; no object yet
    UPLOADED = "uploaded"  # the object is in the bucket: download_url serves it
    FAILED = "failed"  # the agent answered with an error (its command's error says why)
    EXPIRED = "expired"  # the upload form expired with no object (the host was offline, or see its log)


@dataclass(frozen=True, slots=True)
class LogRequestRecord:
    request_id: str
    site_id: str
    #: ``None``: the site's LMS itself
    agent_id: str | None
    #: the object key in the media bucket
    key: str
    since: float | None
    until: float | None
    level: str | None
    max_bytes: int
    created_by: str
    created_at: float
    #: the upload form's expiry
    upload_expires_at: float
    #: DynamoDB TTL
    retain_until: float

    def wanted(self) -> LogRange:
        return LogRange(since=self.since, until=self.until, level=self.level, max_bytes=self.max_bytes)

    @property
    def source(self) -> str:
        return "lms" if self.agent_id is None else "agent"

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "site_id": self.site_id, "agent_id": self.agent_id,
                "source": self.source, "key": self.key, "since": self.since, "until": self.until,
                "level": self.level, "max_bytes": self.max_bytes, "created_by": self.created_by,
                "created_at": self.created_at, "upload_expires_at": self.upload_expires_at}
