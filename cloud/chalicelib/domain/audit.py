"""One audit-log entry: who did what to which target, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    actor: str
    role: str | None
    action: str
    target: str
    status: int
    result: str
    entry_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "at": self.at,
            "actor": self.actor,
            "role": self.role,
            "action": self.action,
            "target": self.target,
            "status": self.status,
            "result": self.result,
        }
