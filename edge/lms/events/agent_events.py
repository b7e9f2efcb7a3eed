"""Agent events at the LMS: stored, shown, and forwarded to the cloud.

The registry hands every ``Event`` an agent publishes on ``ct/agent/{id}/up/event`` to :meth:`AgentEvents.add`
(on the MQTT dispatcher thread; it only queues). What happens to it depends on its ``kind``:

* ``command.state`` (``{request_id, status}``) updates :class:`~edge.lms.commands.CommandProgress`, the LMS's view
  of commands running on the agents (``GET /api/events/commands``); not stored, not forwarded.
* ``processes`` replaces the agent's latest process list (``GET /api/clients/{uuid}/processes``); kept in
  memory only (the agent sends a fresh one after every connect).
* ``classtop.snapshot`` belongs to the ClassTop sync and is ignored here.
* every other event is written to the bounded ``events`` table (``GET /api/events``; :mod:`.event_log`);
  ``cctv.*`` events are also written to the seed's ``cctv_logs``. Events worth the cloud's attention go to the
  durable outbox (:mod:`edge.lms.cloud.event_forwarding`).

Nothing is lost to an LMS killed while an event waits for its batch: the site broker's acknowledgement of a stored
event is held until it is written and queued for the cloud (:meth:`AgentEvents.ack_after_write`; the LMS's session
on the site broker is persistent, so the broker delivers it again after the restart). Agents deliver at least once,
so an event repeated with the same (agent, kind, timestamp) is dropped ("changed only"), also across a restart
(the newest :data:`SEEN_MAX` stored events are remembered at start: one written but not yet acknowledged when the
LMS was killed comes again). One writer thread does the SQLite work in batches; the table is pruned by age and size
every ``prune_interval_s``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.lms.cloud.event_forwarding import EventForwarder, OutboxSink
from edge.lms.commands import CommandProgress
from edge.lms.commands.progress import COMMAND_STATE
from edge.lms.events.event_log import EventLog, Received
from edge.lms.store import Batcher, Store, StoreError
from shared.messages import Event
from shared.names import Namespace
from shared.periodic import Periodic

log = logging.getLogger(__name__)

PROCESSES = "processes"
IGNORED_KINDS = frozenset({"classtop.snapshot"})
#: The writer waits this long after the first event of a batch (cut short by :meth:`AgentEvents.flush`).
BATCH_DELAY_S = 0.5
#: Events remembered for dropping repeats.
SEEN_MAX = 4096
#: With this many acknowledgements held, the writer starts its round at once (the site broker sends the LMS at most
#: ``max_inflight_messages``, 100, QoS 1 messages it has not acknowledged: the others wait).
ACKS_WAKE = 32
#: How often events the outbox refused are offered again.
RETRY_HELD_S = 1.0


@dataclass(frozen=True, slots=True)
class _Ack:
    """A site broker acknowledgement, sent once the events queued before it are written."""

    ack: Callable[[], None]


@dataclass
class EventStats:
    received: int = 0
    duplicates: int = 0
    stored: int = 0
    write_errors: int = 0
    pruned: int = 0


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
        self._log = EventLog(store)
        #: Stored events, newest first (filters: ``agent_id``, ``kind`` — ending in ``.`` or ``*``: a prefix —,
        #: ``since``, ``severity`` or worse, ``limit``).
        self.recent = self._log.recent
        self._retention_s = retention_days * 86400.0
        self._max_rows = max_rows
        self._forwarder = EventForwarder(namespace, site_id, outbox=outbox, await_outbox=await_outbox)
        self._batcher: Batcher[Received | _Ack] = Batcher("lms-events", self._round, delay_s=BATCH_DELAY_S)
        #: per thread: whether the last :meth:`add` queued its event for writing (:meth:`ack_after_write`)
        self._queued = threading.local()
        self._acks_waiting = 0
        self._acks_lock = threading.Lock()
        self._pruner = Periodic("lms-events-prune", self._prune_logged, prune_interval_s)
        #: while events wait for an outbox that refused them, the writer tries again every second
        self._retry = Periodic("lms-events-retry", self._retry_held, RETRY_HELD_S, run_at_start=False)
        self._seen: OrderedDict[tuple[str, str, float], None] = OrderedDict()
        self._processes: dict[str, dict[str, Any]] = {}
        self.progress = CommandProgress()
        self.stats = EventStats()

    # ------------------------------------------------------------ lifecycle

    def set_outbox(self, outbox: OutboxSink | None) -> None:
        """Forward from now on (and send what was held while waiting for it)."""
        self._forwarder.outbox = outbox
        self._batcher.wake()

    def start(self) -> AgentEvents:
        try:  # the newest events stored: a repeat of one (redelivered after a restart) is dropped
            for key in self._log.newest_keys(SEEN_MAX):
                self._seen[key] = None
        except (sqlite3.Error, StoreError):
            log.exception("events: could not read the newest events (repeats after a restart may be stored twice)")
        self._batcher.start()
        self._pruner.start()
        self._retry.start()
        return self

    def stop(self) -> None:
        self._retry.stop()
        self._pruner.stop()
        self._batcher.stop()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every event queued so far is written (and queued for the cloud)."""
        return self._batcher.flush(timeout_s)

    # ------------------------------------------------------------ input (MQTT dispatcher thread)

    def add(self, agent_id: str, event: Event) -> None:
        self._queued.last = False
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
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        self._queued.last = self._batcher.put((agent_id, event, time.time()))

    def ack_after_write(self, ack: Callable[[], None]) -> None:
        """The site broker's acknowledgement of the event this thread just gave :meth:`add`: sent once the event is
        written and queued for the cloud (the broker keeps it for the LMS until then: a kill -9 in between loses
        nothing), at once for one that is not written (progress, process lists, repeats, dropped)."""
        queued, self._queued.last = getattr(self._queued, "last", False), False
        if not queued or not self._batcher.put(_Ack(ack)):
            ack()
            return
        with self._acks_lock:
            self._acks_waiting += 1
            wake = self._acks_waiting >= ACKS_WAKE
        if wake:  # the broker sends at most max_inflight_messages unacknowledged: do not keep it waiting
            self._batcher.wake()

    # ------------------------------------------------------------ queries

    def processes(self, agent_id: str) -> dict[str, Any] | None:
        """The agent's latest ``processes`` event data (with ``received_at``), or ``None``."""
        return self._processes.get(agent_id)

    def prune(self) -> int:
        """Delete events older than the retention, then the oldest beyond ``max_rows``. Returns rows deleted."""
        deleted = self._log.prune(time.time() - self._retention_s, self._max_rows)
        self.stats.pruned += deleted
        return deleted

    # ------------------------------------------------------------ writer thread

    def _round(self, items: list[Received | _Ack]) -> None:
        acks = [i.ack for i in items if isinstance(i, _Ack)]
        try:
            self._write([i for i in items if not isinstance(i, _Ack)])
        finally:
            with self._acks_lock:
                self._acks_waiting -= len(acks)
            for ack in acks:
                ack()

    def _write(self, batch: list[Received]) -> None:
        outbox = self._forwarder.outbox  # one view per round, so held events always go before newer ones
        self._forwarder.send_held(outbox)
        if not batch:
            return
        try:
            self._log.write(batch)
            self.stats.stored += len(batch)
        except (sqlite3.Error, StoreError):
            self.stats.write_errors += 1
            log.exception("events: could not store %d events", len(batch))
        self._forwarder.forward(outbox, [(agent_id, e) for agent_id, e, _at in batch])

    def _retry_held(self) -> None:
        if self._forwarder.held and self._forwarder.outbox is not None:
            self._batcher.wake()

    def _prune_logged(self) -> None:
        try:
            self.prune()
        except (sqlite3.Error, StoreError):
            log.exception("events: prune failed")
