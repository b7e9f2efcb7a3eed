"""Agents' events: ``EventModel`` items. Read by Query (an agent's, newest first; or a UTC day's)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.page import Page
from chalicelib.models.event import EventModel
from chalicelib.repositories.audit import day_of, sort_key
from chalicelib.repositories.dynamo import check_limit, decode_cursor, dynamo_errors, encode_cursor

_AGENT_KEYS = frozenset({"agent_id", "at_id"})
_DAY_KEYS = frozenset({"agent_id", "at_id", "day"})


@dataclass(frozen=True, slots=True)
class StoredEvent:
    agent_id: str
    site_id: str
    at: float
    kind: str
    severity: str
    message: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "site_id": self.site_id, "at": self.at, "kind": self.kind,
                "severity": self.severity, "message": self.message, "data": self.data}


class EventRepository:
    def append_many(self, events: list[StoredEvent], retain_until: float) -> None:
        ttl = datetime.fromtimestamp(retain_until, tz=UTC)
        with dynamo_errors("write events"), EventModel.batch_write() as batch:
            for e in events:
                batch.save(EventModel(e.agent_id, sort_key(e.at, secrets.token_hex(4)), day=day_of(e.at),
                                      site_id=e.site_id, at=e.at, kind=e.kind, severity=e.severity,
                                      message=e.message, data=json.dumps(e.data, separators=(",", ":")), ttl=ttl))

    def of_agent(self, agent_id: str, *, limit: int, cursor: str | None) -> Page[StoredEvent]:
        check_limit(limit)
        with dynamo_errors(f"read events of {agent_id}"):
            result = EventModel.query(agent_id, scan_index_forward=False, limit=limit,
                                      last_evaluated_key=decode_cursor(cursor, _AGENT_KEYS))
            items = [_to_event(item) for item in result]
            return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def of_day(self, day: str, *, limit: int, cursor: str | None) -> Page[StoredEvent]:
        check_limit(limit)
        with dynamo_errors(f"read events of {day}"):
            result = EventModel.by_day.query(day, scan_index_forward=False, limit=limit,
                                             last_evaluated_key=decode_cursor(cursor, _DAY_KEYS))
            items = [_to_event(item) for item in result]
            return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)


def _to_event(item: EventModel) -> StoredEvent:
    return StoredEvent(item.agent_id, item.site_id, float(item.at), item.kind, item.severity, item.message or "",
                       json.loads(item.data or "{}"))
