"""An unchanged ClassTop desktop client that syncs with the cloud directly, and its synced data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Approval(StrEnum):
    """Admission of a caller without credentials (ClassTop client, seed LMS)."""

    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Client:
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


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The latest full upload of one kind of data (JSON-able ``body``) of one owner."""

    owner: str
    kind: str
    body: Any
    version: int
    updated_at: float
    size: int = 0
