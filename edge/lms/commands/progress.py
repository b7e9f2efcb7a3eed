"""The progress of commands running on the agents: the latest ``command.state`` event (``queued`` / ``running``) of
each request, as agents report it (``GET /api/events/commands``); in memory, bounded."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.messages import Event

log = logging.getLogger(__name__)

#: The event kind agents report a request's progress with (``{request_id, status}``).
COMMAND_STATE = "command.state"
#: longer ``command_id`` values in a progress report are ignored (the cloud's ids are UUIDs)
MAX_COMMAND_ID = 128


@dataclass(frozen=True, slots=True)
class Progress:
    request_id: str
    agent_id: str
    status: str
    at: float
    #: the cloud command the request was for (the agent says so): what matches it after an LMS restart, when the
    #: request id an earlier run of the LMS chose is known no more
    command_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "agent_id": self.agent_id, "status": self.status, "at": self.at}


class CommandProgress:
    """The latest ``command.state`` of commands running on agents (bounded; entries expire after ``max_age_s``)."""

    def __init__(self, *, max_entries: int = 10_000, max_age_s: float = 3600.0) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Progress] = OrderedDict()
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._listeners: list[Callable[[Progress], None]] = []

    def add_listener(self, listener: Callable[[Progress], None]) -> None:
        """Told of every progress report (on the thread that reports it: quick, never blocking)."""
        self._listeners.append(listener)

    def update(self, agent_id: str, event: Event) -> bool:
        request_id, status = event.data.get("request_id"), event.data.get("status")
        if not isinstance(request_id, str) or status not in ("queued", "running"):
            return False
        command_id = event.data.get("command_id")
        if not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_COMMAND_ID:
            command_id = None
        progress = Progress(request_id, agent_id, str(status), event.timestamp, command_id)
        with self._lock:
            self._items.pop(request_id, None)
            self._items[request_id] = progress
            while len(self._items) > self._max_entries:
                self._items.popitem(last=False)
        for listener in self._listeners:
            try:
                listener(progress)
            except Exception:
                log.exception("progress: a listener failed on %s", request_id)
        return True

    def get(self, request_id: str) -> Progress | None:
        with self._lock:
            return self._items.get(request_id)

    def recent(self, agent_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        cutoff = time.time() - self._max_age_s
        with self._lock:
            for rid in [r for r, p in self._items.items() if p.at < cutoff]:
                del self._items[rid]
            items = [p for p in reversed(self._items.values()) if agent_id is None or p.agent_id == agent_id]
        return [p.to_dict() for p in items[:limit]]
