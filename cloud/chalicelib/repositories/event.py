"""Agents' events: ``EventModel`` items. Read by Query (an agent's, newest first; or a UTC day's)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.page import Page
from chalicelib.models.event import EventModel
from chalicelib.repositories.base import day_of, dynamo_errors, expiry, read_page, sort_key
from chalicelib.repositories.change_mark import Area, bump

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
        ttl = expiry(retain_until)
        with dynamo_errors("write events"), EventModel.batch_write() as batch:
            for e in events:
                batch.save(EventModel(e.agent_id, sort_key(e.at, secrets.token_hex(4)), day=day_of(e.at),
                                      site_id=e.site_id, at=e.at, kind=e.kind, severity=e.severity,
                                      message=e.message, data=json.dumps(e.data, separators=(",", ":")), ttl=ttl))
        if events:
            bump(Area.EVENTS)

    def of_agent(self, agent_id: str, *, limit: int, cursor: str | None,
                 since: float | None = None) -> Page[StoredEvent]:
        """An agent's events, newest first; ``since``: only those after that epoch second (a poll's cursor)."""
        return read_page(lambda start: EventModel.query(agent_id, _after(since), scan_index_forward=False,
                                                        limit=limit, last_evaluated_key=start),
                         _AGENT_KEYS, limit=limit, cursor=cursor, convert=_to_event, what=f"read events of {agent_id}")

    def of_day(self, day: str, *, limit: int, cursor: str | None, since: float | None = None) -> Page[StoredEvent]:
        """A UTC day's events, newest first; ``since``: only those after that epoch second."""
        return read_page(lambda start: EventModel.by_day.query(day, _after(since), scan_index_forward=False,
                                                               limit=limit, last_evaluated_key=start),
                         _DAY_KEYS, limit=limit, cursor=cursor, convert=_to_event, what=f"read events of {day}")


def _after(since: float | None) -> Any:
    """The range-key condition of ``since`` (events of the next millisecond on), or none."""
    return None if since is None else EventModel.at_id >= sort_key(since + 0.001)


def _to_event(item: EventModel) -> StoredEvent:
    return StoredEvent(item.agent_id, item.site_id, float(item.at), item.kind, item.severity, item.message or "",
                       json.loads(item.data or "{}"))
