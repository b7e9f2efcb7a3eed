"""Agent events at the LMS: stored, shown, and forwarded to the cloud.

The registry hands every ``Event`` an agent publishes on ``ct/agent/{id}/up/event`` to :meth:`AgentEvents.add`
(on the MQTT dispatcher thread; it only queues). What happens to it depends on its ``kind``:

* ``command.state`` (``{request_id, status}``) updates :class:`CommandProgress`, the LMS's view of commands
  running on the agents (``GET /api/events/commands``); not stored, not forwarded.
* ``processes`` replaces the agent's latest process list (``GET /api/clients/{uuid}/processes``); kept in
  memory only (the agent sends a fresh one after every connect).
* ``classtop.snapshot`` belongs to the ClassTop sync and is ignored here.
* every other event is written to the bounded ``events`` table (``GET /api/events``); ``cctv.*`` events are
  also written to the seed's ``cctv_logs``. Events worth the cloud's attention (``cctv.*``, ``health.*``, and
  any of severity warning or worse) are put into the durable outbox as ``site_events`` messages on
  ``ct/{tenant}/{stage}/site/{site}/up/events``, batched (one message per flush, at most 500 events).

Agents deliver at least once, so an event repeated with the same (agent, kind, timestamp) is dropped
("changed only"). One writer thread does the SQLite work in batches and prunes the table by age and size.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from edge.lms.store import Batcher, Store, StoreError, json_or_none
from shared import topics
from shared.messages import AgentEvent, Event, Severity, SiteEvents, encode
from shared.messages.site import MAX_EVENTS_PER_MESSAGE
from shared.names import Namespace
from shared.topics import SiteUp

log = logging.getLogger(__name__)

COMMAND_STATE = "command.state"
PROCESSES = "processes"
IGNORED_KINDS = frozenset({"classtop.snapshot"})
FORWARDED_PREFIXES = ("cctv.", "health.")
FORWARDED_SEVERITIES = frozenset({Severity.WARNING, Severity.ERROR, Severity.CRITICAL})
#: Events per ``site_events`` message (the cloud's limit) and a size budget well under IoT Core's 128 KB.
MAX_MESSAGE_BYTES = 96 * 1024
#: The writer waits this long after the first event of a batch (cut short by :meth:`AgentEvents.flush`).
BATCH_DELAY_S = 0.5
MAX_DETAIL_CHARS = 8192
_SEVERITY_ORDER = {s: i for i, s in enumerate((Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL))}
_KEYS = ("id", "agent_id", "kind", "severity", "message", "data", "timestamp", "received_at")




class OutboxSink(Protocol):
    def put(self, topic: str, message: BaseModel | bytes) -> int: ...


def forwarded(event: Event) -> bool:
    """Whether the cloud gets this event."""
    if event.kind in (COMMAND_STATE, PROCESSES) or event.kind in IGNORED_KINDS:
        return False
    return event.kind.startswith(FORWARDED_PREFIXES) or event.severity in FORWARDED_SEVERITIES


def site_event_messages(events: list[tuple[str, Event]]) -> list[SiteEvents]:
    """Split ``(agent_id, event)`` pairs into messages within the count and size limits (order kept)."""
    out: list[SiteEvents] = []
    run: list[AgentEvent] = []
    size = 0
    for agent_id, event in events:
        item = AgentEvent(agent_id=agent_id, event=event)
        item_size = len(encode(item)) + 1
        if run and (len(run) >= MAX_EVENTS_PER_MESSAGE or size + item_size > MAX_MESSAGE_BYTES):
            out.append(SiteEvents(events=run))
            run, size = [], 0
        run.append(item)
        size += item_size
    if run:
        out.append(SiteEvents(events=run))
    return out


@dataclass(frozen=True, slots=True)
class Progress:
    request_id: str
    agent_id: str
    status: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "agent_id": self.agent_id, "status": self.status, "at": self.at}


class CommandProgress:
    """The latest ``command.state`` of commands running on agents (bounded; entries expire after ``max_age_s``)."""

    def __init__(self, *, max_entries: int = 10_000, max_age_s: float = 3600.0) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Progress] = OrderedDict()
        self._max_entries = max_entries
        self._max_age_s = max_age_s

    def update(self, agent_id: str, event: Event) -> bool:
        request_id, status = event.data.get("request_id"), event.data.get("status")
        if not isinstance(request_id, str) or status not in ("queued", "running"):
            return False
        with self._lock:
            self._items.pop(request_id, None)
            self._items[request_id] = Progress(request_id, agent_id, str(status), event.timestamp)
            while len(self._items) > self._max_entries:
                self._items.popitem(last=False)
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


@dataclass
class EventStats:
    received: int = 0
    duplicates: int = 0
    stored: int = 0
    forwarded: int = 0
    write_errors: int = 0
    pruned: int = 0


#: Events held for a cloud link that is not there yet (the oldest are dropped beyond this).
MAX_HELD = 10_000


class AgentEvents:
    """:meth:`start`, :meth:`add` from any thread, :meth:`stop` (writes what is left).

    ``outbox`` may be set later (:meth:`set_outbox`), once the cloud link exists; without one nothing is forwarded.
    """

    def __init__(
        self,
        store: Store,
        *,
        namespace: Namespace,
        site_id: str,
        retention_days: float = 30.0,
        max_rows: int = 100_000,
        prune_interval_s: float = 600.0,
        outbox: OutboxSink | None = None,
        await_outbox: bool = False,
    ) -> None:
        self._store = store
        self._topic = topics.site_up(namespace, site_id, SiteUp.EVENTS)
        self._retention_s = retention_days * 86400.0
        self._max_rows = max_rows
        self._prune_interval_s = prune_interval_s
        self._outbox = outbox
        #: with a cloud link to come (``await_outbox``), events for the cloud are held until :meth:`set_outbox`
        self._await_outbox = await_outbox
        self._held: list[tuple[str, Event]] = []
        self._batcher: Batcher[tuple[str, Event, float]] = Batcher("lms-events", self._round, delay_s=BATCH_DELAY_S)
        self._seen: OrderedDict[tuple[str, str, float], None] = OrderedDict()
        self._processes: dict[str, dict[str, Any]] = {}
        self._last_prune = 0.0
        self.progress = CommandProgress()
        self.stats = EventStats()

    # ------------------------------------------------------------ lifecycle

    def set_outbox(self, outbox: OutboxSink | None) -> None:
        """Forward from now on (and send what was held while waiting for it)."""
        self._outbox = outbox
        self._batcher.wake()

    def start(self) -> AgentEvents:
        self._batcher.start()
        return self

    def stop(self) -> None:
        self._batcher.stop()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every event queued so far is written (and queued for the cloud)."""
        return self._batcher.flush(timeout_s)

    # ------------------------------------------------------------ input (MQTT dispatcher thread)

    def add(self, agent_id: str, event: Event) -> None:
        self.stats.received += 1
        if event.kind == COMMAND_STATE:
            self.progress.update(agent_id, event)
            return
        if event.kind == PROCESSES:
            self._processes[agent_id] = {"received_at": time.time(), **event.data}
            return
        if event.kind in IGNORED_KINDS:
            return
        key = (agent_id, event.kind, event.timestamp)
        if key in self._seen:
            self.stats.duplicates += 1
            return
        self._seen[key] = None
        while len(self._seen) > 4096:
            self._seen.popitem(last=False)
        self._batcher.put((agent_id, event, time.time()))

    # ------------------------------------------------------------ queries

    def processes(self, agent_id: str) -> dict[str, Any] | None:
        """The agent's latest ``processes`` event data (with ``received_at``), or ``None``."""
        return self._processes.get(agent_id)

    def recent(
        self,
        *,
        agent_id: str | None = None,
        kind: str | None = None,
        since: float | None = None,
        severity: Severity | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Stored events, newest first. ``kind`` ending in ``.`` or ``*`` matches a prefix (``cctv.``)."""
        sql = f"SELECT {', '.join(_KEYS)} FROM events WHERE 1=1"
        args: list[Any] = []
        if agent_id is not None:
            sql += " AND agent_id = ?"
            args.append(agent_id)
        if kind is not None:
            if kind.endswith(("*", ".")):
                prefix = kind.rstrip("*")
                sql += " AND substr(kind, 1, ?) = ?"
                args += [len(prefix), prefix]
            else:
                sql += " AND kind = ?"
                args.append(kind)
        if since is not None:
            sql += " AND timestamp >= ?"
            args.append(since)
        if severity is not None:
            allowed = [s.value for s, i in _SEVERITY_ORDER.items() if i >= _SEVERITY_ORDER[severity]]
            sql += f" AND severity IN ({', '.join('?' * len(allowed))})"
            args += allowed
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        out = []
        for r in self._store.query(sql, args):
            row = dict(zip(_KEYS, r, strict=True))
            row["data"] = json_or_none(row["data"])
            out.append(row)
        return out

    # ------------------------------------------------------------ writer thread

    def _round(self, batch: list[tuple[str, Event, float]]) -> None:
        outbox = self._outbox  # one view per round, so held events always go before newer ones
        if self._held and outbox is not None:
            held, self._held = self._held, []
            self._forward(outbox, held)
        if batch:
            self._write(batch, outbox)
        self._maybe_prune()

    def _write(self, batch: list[tuple[str, Event, float]], outbox: OutboxSink | None) -> None:
        rows = [
            (agent_id, e.kind, e.severity.value, e.message, _dumps(e.data), e.timestamp, at)
            for agent_id, e, at in batch
        ]
        cctv = [
            (agent_id, e.kind, _camera(e), _dumps({"severity": e.severity.value, "message": e.message, **e.data}),
             e.timestamp)
            for agent_id, e, _at in batch
            if e.kind.startswith("cctv.")
        ]
        try:
            with self._store.transaction() as conn:
                conn.executemany(
                    "INSERT INTO events (agent_id, kind, severity, message, data, timestamp, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                conn.executemany(
                    "INSERT INTO cctv_logs (client_uuid, event_type, camera_id, details, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    cctv,
                )
            self.stats.stored += len(rows)
        except (sqlite3.Error, StoreError):
            self.stats.write_errors += 1
            log.exception("events: could not store %d events", len(rows))
        up = [(agent_id, e) for agent_id, e, _at in batch if forwarded(e)]
        if not up:
            return
        if outbox is not None:
            self._forward(outbox, up)
        elif self._await_outbox:
            self._held = (self._held + up)[-MAX_HELD:]

    def _forward(self, outbox: OutboxSink, up: list[tuple[str, Event]]) -> None:
        for message in site_event_messages(up):
            try:
                outbox.put(self._topic, message)
                self.stats.forwarded += len(message.events)
            except Exception:
                log.exception("events: could not queue %d events for the cloud", len(message.events))

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < self._prune_interval_s:
            return
        self._last_prune = now
        try:
            self.prune()
        except (sqlite3.Error, StoreError):
            log.exception("events: prune failed")

    def prune(self) -> int:
        """Delete events older than the retention, then the oldest beyond ``max_rows``. Returns rows deleted."""
        cutoff = time.time() - self._retention_s
        with self._store.transaction() as conn:
            deleted = conn.execute("DELETE FROM events WHERE timestamp < ?", (cutoff,)).rowcount
            deleted += conn.execute(
                "DELETE FROM cctv_logs WHERE created_at < ? AND event_type LIKE 'cctv.%'", (cutoff,)
            ).rowcount
            row = conn.execute("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", (self._max_rows,)).fetchone()
            if row is not None:
                deleted += conn.execute("DELETE FROM events WHERE id <= ?", (row[0],)).rowcount
        self.stats.pruned += deleted
        return int(deleted)


def _camera(event: Event) -> str | None:
    value = event.data.get("camera_id")
    return None if value is None else str(value)[:64]


def _dumps(value: Any) -> str:
    """Compact JSON; data too big to keep whole is replaced by a marker (stored text is always valid JSON)."""
    try:
        text = json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = json.dumps(repr(value))
    return text if len(text) <= MAX_DETAIL_CHARS else json.dumps({"truncated": True, "bytes": len(text)})
