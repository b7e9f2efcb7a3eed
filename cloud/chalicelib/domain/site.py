"""A site: one school's LMS and the agents behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    last_heartbeat: float
    lms_version: str
    agent_count: int = 0
    online_count: int = 0
    revision: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "last_heartbeat": self.last_heartbeat,
            "lms_version": self.lms_version,
            "agent_count": self.agent_count,
            "online_count": self.online_count,
        }
