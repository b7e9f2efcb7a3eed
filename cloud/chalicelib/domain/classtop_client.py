"""An unchanged ClassTop desktop client that syncs with the cloud directly (no credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.approval import Approval


@dataclass(frozen=True, slots=True)
class ClassTopClient:
    client_uuid: str
    name: str
    api_url: str
    approval: Approval
    registered_at: float
    last_sync_at: float | None = None
    course_count: int = 0
    entry_count: int = 0
    digest: str | None = None
    revision: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_uuid": self.client_uuid,
            "name": self.name,
            "api_url": self.api_url,
            "approval": self.approval.value,
            "registered_at": self.registered_at,
            "last_sync_at": self.last_sync_at,
            "course_count": self.course_count,
            "entry_count": self.entry_count,
        }
