"""Agents' events: ``EventModel`` items. Read by Query (an agent's, newest first; or a UTC day's).

An event's key is its agent and ``<epoch ms>#<digest of the event>`` (:func:`event_id`): a site that sends the
same events again (its outbox resends a message whose acknowledgement the link lost) overwrites them, never stores
them twice. Events carry no id of their own; two that agree in every field are one event."""

from __future__ import annotations

import hashlib
import json
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


def event_id(event: StoredEvent) -> str:
    """A stable id of ``event``: 16 hex digits of a digest of all it holds (resent, it is the same id)."""
    body = json.dumps([event.agent_id, event.site_id, repr(event.at), event.kind, event.severity, event.message,
                       event.data], sort_keys=True, separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class EventRepository:
    def append_many(self, events: list[StoredEvent], retain_until: float) -> None:
        ttl = expiry(retain_until)
        with dynamo_errors("write events"), EventModel.batch_write() as batch:
            keys: set[tuple[str, str]] = set()
            for e in events:
                key = (e.agent_id, sort_key(e.at, event_id(e)))
                if key in keys:  # the same event twice in one batch (DynamoDB refuses repeated keys in a batch)
                    continue
                keys.add(key)
                batch.save(EventModel(key[0], key[1], day=day_of(e.at),
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
