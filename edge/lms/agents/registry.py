"""The registry of the site's agents: who exists, who is online, what they last reported.

Fed by the agents' up topics on the site broker:

* ``Status`` (retained; the Last Will is ``offline``/``lost``) -> online/offline, with a connection log row;
* ``Heartbeat`` -> last seen (kept in memory, flushed to SQLite in batches by the sweeper);
* ``StateUpdate`` -> cached settings;
* ``Metrics`` -> the latest sample per agent (in memory, as the payload it came in: ~250 bytes where the model
  takes 1.6 KB, 16 MB at 10,000 agents; read back by :meth:`Registry.latest_metrics`) and the metrics listeners
  (the history);
* ``Event`` -> the event listeners (``edge.lms.events.agent_events``); also a sign of life.

A sweeper thread marks agents offline after ``presence_timeout_s`` without anything from them (timing uses
the monotonic clock). While the LMS's own connection to the site broker is down it cannot hear any MQTT agent, so
their silence is not theirs: the sweeper leaves MQTT agents as they were and gives each a full timeout again from
the reconnection (a site broker restart longer than the timeout does not flap the whole site offline and online,
with a presence change, a site heartbeat and a shadow catch-up per agent; docs/operations.md#reconnect-storms).
Bad payloads are logged, counted and dropped. Presence changes are announced to listeners (the cloud link sends
changed-only site heartbeats from them).

A retired agent (:meth:`Registry.forget`, see :mod:`edge.lms.agents.retirement`) leaves the registry; messages
under its id are dropped until it enrols again (:meth:`Registry.reinstate`), so a retained status or a message
still in flight cannot bring its row back.

An agent's ``kind`` is set when its row is made and never changes: a ClassTop connection (:meth:`Registry.connected`)
under the id of an MQTT agent is refused, and MQTT messages under the id of a ClassTop client are dropped.

Once started, changes reach SQLite through one writer thread (:mod:`edge.lms.agents.row_writer`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.lms.agents.agent_rows import AgentRow, AgentRows
from edge.lms.agents.agent_view import AgentView, view_of
from edge.lms.agents.row_writer import RowWriter
from edge.lms.store import Store
from shared import topics
from shared.errors import SharedError
from shared.messages import AgentKind, Event, Heartbeat, Metrics, Presence, StateUpdate, Status, decode
from shared.mqtt import IncomingMessage, MqttClient
from shared.periodic import Periodic
from shared.topics import AgentUp

log = logging.getLogger(__name__)

#: Channels the registry listens to (``response`` belongs to the router).
CHANNELS = (AgentUp.STATUS, AgentUp.HEARTBEAT, AgentUp.STATE, AgentUp.METRICS, AgentUp.EVENT)


@dataclass
class RegistryStats:
    messages: int = 0
    bad_payloads: int = 0
    status_changes: int = 0
    timeouts: int = 0
    kind_conflicts: int = 0
    retired_dropped: int = 0


PresenceListener = Callable[[AgentView], None]
MetricsListener = Callable[[str, Metrics], None]
EventListener = Callable[[str, Event], None]


class Registry:
    """In-memory agent table backed by the ``clients`` table. :meth:`load`, :meth:`attach`, :meth:`start`."""

    def __init__(self, store: Store, *, presence_timeout_s: float, sweep_interval_s: float | None = None) -> None:
        self._table = AgentRows(store)
        self.presence_timeout_s = presence_timeout_s
        self._sweep_s = sweep_interval_s or min(max(presence_timeout_s / 4, 0.2), 5.0)
        self._lock = threading.RLock()
        self._rows: dict[str, AgentRow] = {}
        self._heard: dict[str, float] = {}  # agent id -> monotonic time of the last sign of life
        self._dirty: set[str] = set()  # last_seen changed in memory only
        self._listeners: list[PresenceListener] = []
        self._metrics_listeners: list[MetricsListener] = []
        self._event_listeners: list[EventListener] = []
        #: given the acknowledgement of each agent event once the listeners took it (the event store calls it
        #: once the event is written: ``AgentEvents.ack_after_write``); default: at once
        self.event_ack: Callable[[Callable[[], None]], None] | None = None
        self._latest: dict[str, bytes] = {}  # agent id -> its latest valid ``Metrics`` payload
        self._kind_timeouts: dict[str, float] = {}
        self._retired: set[str] = set()
        self._sweeper = Periodic("lms-registry-sweeper", self.sweep, self._sweep_s, run_at_start=False,
                                 join_timeout_s=5.0)
        self._writer = RowWriter(self._table)
        self._site: MqttClient | None = None  # the LMS's site broker connection (:meth:`attach`)
        self.stats = RegistryStats()

    # ------------------------------------------------------------ lifecycle

    def load(self, retired: Iterable[str] = ()) -> None:
        """Read the known agents. Those stored online get a full presence timeout to show a sign of life.
        ``retired``: the ids of retired agents (their messages are dropped until they enrol again)."""
        now = time.monotonic()
        with self._lock:
            self._retired.update(retired)
            for row in self._table.load():
                self._rows[row.agent_id] = row
                self._heard[row.agent_id] = now
        log.info("registry: %d known agents", len(self._rows))

    def attach(self, client: MqttClient) -> None:
        self._site = client
        for channel in CHANNELS:  # events: acknowledged once stored, when the client can hold acknowledgements
            event = channel is AgentUp.EVENT
            client.subscribe(topics.all_agents_up_filter(channel), self.handle, qos=1,
                             hold_ack=event and client.manual_ack, inline=progress_inline if event else False)

    def start(self) -> None:
        self._writer.start()
        self._sweeper.start()

    def stop(self) -> None:
        self._sweeper.stop()
        self._writer.stop()  # writes what is queued
        self._flush_last_seen()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every change made so far is in the database (they are group-committed)."""
        return self._writer.flush(timeout_s)

    def add_listener(self, listener: PresenceListener) -> None:
        self._listeners.append(listener)

    def add_metrics_listener(self, listener: MetricsListener) -> None:
        self._metrics_listeners.append(listener)

    def add_event_listener(self, listener: EventListener) -> None:
        """Called with every valid ``Event`` (on the MQTT dispatcher thread; must not block)."""
        self._event_listeners.append(listener)

    def latest_metrics(self, agent_id: str) -> Metrics | None:
        """The agent's latest ``Metrics`` sample since this LMS started (``None`` if none yet)."""
        payload = self._latest.get(agent_id)
        # it passed :func:`shared.messages.decode` on its way in: pydantic's own parser reads it back alike
        return None if payload is None else Metrics.model_validate_json(payload)

    # ------------------------------------------------------------ queries

    def kind(self, agent_id: str) -> str | None:
        """The agent's kind (``agent``, ``legacy``), or ``None`` for an agent never seen (hot path: no lock)."""
        row = self._rows.get(agent_id)
        return None if row is None else row.kind

    def presence(self, agent_id: str) -> Presence | None:
        """Online/offline, or ``None`` for an agent never seen (hot path: no lock, one dict lookup)."""
        row = self._rows.get(agent_id)
        return None if row is None else Presence(row.status)

    def get(self, agent_id: str) -> AgentView | None:
        with self._lock:
            row = self._rows.get(agent_id)
            return None if row is None else view_of(row)

    def agents(self, *, online_only: bool = False) -> list[AgentView]:
        with self._lock:
            rows = sorted(self._rows.values(), key=lambda r: r.agent_id)
            return [view_of(r) for r in rows if not online_only or r.status == Presence.ONLINE]

    def agent_ids(self) -> list[str]:
        """Every known agent's id, in no order: what the alerts ask each second (10,000 views to count them cost the
        LMS ~0.07 core at 10,000 agents)."""
        with self._lock:
            return list(self._rows)

    def counts(self) -> tuple[int, int]:
        """(known agents, online agents)."""
        with self._lock:
            return len(self._rows), sum(1 for r in self._rows.values() if r.status == Presence.ONLINE)

    # ------------------------------------------------------------ input

    def touch(self, agent_id: str) -> None:
        """A sign of life (any message): refresh last seen; an agent marked offline comes back online. Nothing
        for a retired agent (a late command response must not bring its row back)."""
        if agent_id in self._retired:
            return
        with self._lock:
            row = self._rows.get(agent_id)
            if row is None or row.status != Presence.ONLINE:
                changed = self._set_status(agent_id, Presence.ONLINE, "heartbeat")
            else:
                row.last_seen = time.time()
                self._heard[agent_id] = time.monotonic()
                self._dirty.add(agent_id)
                changed = None
        if changed is not None:
            self._announce(changed)

    def handle(self, msg: IncomingMessage) -> None:
        """Handler for every registry channel of every agent (runs on the MQTT dispatcher thread)."""
        try:
            self._handle(msg)
        finally:
            if msg.ack is not None:  # an event, held until stored (or at once when it was dropped here)
                (self.event_ack or _now)(msg.ack)

    def _handle(self, msg: IncomingMessage) -> None:
        self.stats.messages += 1
        try:
            parsed = topics.parse(msg.topic)
            agent_id = parsed.agent_id
            if agent_id is None or parsed.channel is None or parsed.direction != "up":
                raise SharedError(f"not an agent up topic: {msg.topic}")
            if agent_id in self._retired:
                self.stats.retired_dropped += 1
                log.info("registry: dropped a message on %s: agent %s is retired", msg.topic, agent_id)
                return
            row = self._rows.get(agent_id)
            if row is not None and row.kind != AgentKind.AGENT.value:
                self.stats.kind_conflicts += 1
                log.warning("registry: dropped MQTT message on %s: %s is a %s client, not an MQTT agent", msg.topic,
                            agent_id, row.kind)  # fmt: skip
                return
            channel = AgentUp(parsed.channel)
            if channel is AgentUp.STATUS:
                self._on_status(agent_id, decode(Status, msg.payload))
            elif channel is AgentUp.HEARTBEAT:
                decode(Heartbeat, msg.payload)
                self.touch(agent_id)
            elif channel is AgentUp.STATE:
                self._on_state(agent_id, decode(StateUpdate, msg.payload))
            elif channel is AgentUp.METRICS:
                self.touch(agent_id)  # a sign of life even when the sample is bad
                self._on_metrics(agent_id, decode(Metrics, msg.payload), msg.payload)
            elif channel is AgentUp.EVENT:
                self.touch(agent_id)  # a sign of life even when the event is bad
                self._on_event(agent_id, decode(Event, msg.payload))
            else:
                self.touch(agent_id)
        except SharedError as exc:
            self.stats.bad_payloads += 1
            log.warning("registry: dropped message on %s: %s", msg.topic, exc)

    def connected(self, agent_id: str, *, kind: str, ip_address: str | None = None) -> bool:
        """An agent on a connection-oriented transport (a ClassTop client's WebSocket) connected. ``False`` (and
        nothing changed) when the id belongs to an agent of another kind: a row's kind never changes."""
        with self._lock:
            row = self._rows.get(agent_id)
            if row is not None and row.kind != kind:
                self.stats.kind_conflicts += 1
                log.warning("registry: %s is a %s client; refused as %s", agent_id, row.kind, kind)
                return False
            if row is not None and row.ip_address != ip_address:
                row.ip_address = ip_address
                self._writer.persist(row)
            changed = self._set_status(agent_id, Presence.ONLINE, "connected", kind=kind, ip_address=ip_address)
        if changed is not None:
            self._announce(changed)
        return True

    def disconnected(self, agent_id: str, reason: str = "disconnected") -> None:
        """That connection closed: offline at once (no need to wait for the presence timeout)."""
        with self._lock:
            changed = self._set_status(agent_id, Presence.OFFLINE, reason) if agent_id in self._rows else None
        if changed is not None:
            self._announce(changed)

    def set_settings(self, agent_id: str, settings: dict[str, str], *, merge: bool = False) -> None:
        """Cache an agent's settings (all of them, or ``merge`` a change); stored when they differ."""
        with self._lock:
            row = self._rows.get(agent_id)
            if row is None:
                return
            new = {**(row.settings or {}), **settings} if merge else dict(settings)
            if row.settings == new:
                return
            row.settings = new
            self._writer.persist(row)

    def set_kind_timeout(self, kind: str, timeout_s: float) -> None:
        """Agents of ``kind`` are offline after ``timeout_s`` of silence (e.g. clients with a slower heartbeat)."""
        self._kind_timeouts[kind] = timeout_s

    def _on_status(self, agent_id: str, status: Status) -> None:
        with self._lock:
            row = self._rows.get(agent_id)
            if row is not None:
                if status.hostname is not None:
                    row.hostname = status.hostname
                    row.name = status.hostname
                if status.version is not None:
                    row.version = status.version
                if status.config_version is not None:
                    row.config_version = status.config_version
            changed = self._set_status(
                agent_id, status.state, status.reason or status.state.value, hostname=status.hostname,
                version=status.version, force_write=True, config_version=status.config_version,
            )
        if changed is not None:
            self._announce(changed)

    def _on_metrics(self, agent_id: str, sample: Metrics, payload: bytes) -> None:
        self._latest[agent_id] = payload
        _notify(self._metrics_listeners, "metrics", agent_id, sample)

    def _on_event(self, agent_id: str, event: Event) -> None:
        _notify(self._event_listeners, "event", agent_id, event)

    def _on_state(self, agent_id: str, update: StateUpdate) -> None:
        self.touch(agent_id)
        settings = update.data.settings
        if settings is None:
            return
        with self._lock:
            row = self._rows[agent_id]
            if row.settings == settings:
                return
            row.settings = dict(settings)
            self._writer.persist(row)

    # ------------------------------------------------------------ retirement

    def forget(self, agent_id: str, timeout_s: float = 10.0) -> AgentRow | None:
        """The agent is retired: out of memory, its messages dropped from now on, its pending writes flushed (so
        none lands after the caller deletes its row). Its row as it was (``None``: the registry did not know it),
        for :meth:`reinstate` if the retirement fails."""
        with self._lock:
            self._retired.add(agent_id)
            row = self._rows.pop(agent_id, None)
            self._heard.pop(agent_id, None)
            self._dirty.discard(agent_id)
            self._latest.pop(agent_id, None)
        self.flush(timeout_s)
        return row

    def reinstate(self, agent_id: str, row: AgentRow | None = None) -> None:
        """A retired agent enrolled again (with a fresh token), or its retirement failed (``row``: what
        :meth:`forget` returned, put back): its messages are taken again."""
        with self._lock:
            self._retired.discard(agent_id)
            if row is not None:
                self._rows.setdefault(agent_id, row)
                self._heard.setdefault(agent_id, time.monotonic())

    def is_retired(self, agent_id: str) -> bool:
        return agent_id in self._retired

    # ------------------------------------------------------------ state changes (caller holds the lock)

    def _set_status(
        self,
        agent_id: str,
        state: Presence,
        reason: str,
        *,
        hostname: str | None = None,
        version: str | None = None,
        force_write: bool = False,
        kind: str | None = None,
        ip_address: str | None = None,
        config_version: str | None = None,
    ) -> AgentView | None:
        """Apply a presence; persist it. Returns the new view when the presence changed, else ``None``."""
        now = time.time()
        row = self._rows.get(agent_id)
        if row is None:
            row = AgentRow(
                agent_id=agent_id, name=hostname or agent_id, status=Presence.OFFLINE.value,
                kind=kind or AgentKind.AGENT.value, first_seen=now, hostname=hostname, version=version,
                ip_address=ip_address, config_version=config_version,
            )
            self._rows[agent_id] = row
            force_write = True
        changed = row.status != state.value
        if state is Presence.ONLINE:
            row.last_seen = now
            self._heard[agent_id] = time.monotonic()
            self._dirty.discard(agent_id)
        if changed:
            row.status = state.value
            row.status_reason = reason
            row.status_changed_at = now
            self.stats.status_changes += 1
            log.info("agent %s is %s (%s)", agent_id, state.value, reason)
        if changed or force_write:
            self._writer.persist(row, state.value if changed else None)
        return view_of(row) if changed else None

    def _announce(self, view: AgentView) -> None:
        _notify(self._listeners, "presence", view)

    # ------------------------------------------------------------ sweeper

    def sweep(self) -> list[str]:
        """Mark silent agents offline; flush last-seen times. Returns the ids marked offline."""
        now = time.monotonic()
        cutoff = now - self.presence_timeout_s
        cutoffs = {kind: now - timeout for kind, timeout in self._kind_timeouts.items()}
        deaf = self._site is not None and not self._site.connected  # no MQTT agent can be heard now
        expired: list[AgentView] = []
        with self._lock:
            for agent_id, row in self._rows.items():
                if row.status != Presence.ONLINE:
                    continue
                if deaf and row.kind == AgentKind.AGENT.value:
                    self._heard[agent_id] = now  # its timeout starts again when the LMS can hear it
                    continue
                if self._heard.get(agent_id, 0.0) < cutoffs.get(row.kind, cutoff):
                    view = self._set_status(agent_id, Presence.OFFLINE, "timeout")
                    if view is not None:
                        self.stats.timeouts += 1
                        expired.append(view)
        for view in expired:
            self._announce(view)
        self._flush_last_seen()
        return [v.agent_id for v in expired]

    def _flush_last_seen(self) -> None:
        with self._lock:
            dirty = [(a, self._rows[a].last_seen or 0.0) for a in self._dirty if a in self._rows]
            self._dirty.clear()
        self._writer.touch(dirty)


def _notify(listeners: Sequence[Callable[..., None]], what: str, *args: Any) -> None:
    """Call every listener; one that fails is logged and does not stop the others."""
    for listener in list(listeners):
        try:
            listener(*args)
        except Exception:
            log.exception("registry: %s listener failed", what)


def _now(ack: Callable[[], None]) -> None:
    ack()


def progress_inline(msg: IncomingMessage) -> bool:
    """An agent's progress (``command.state``) is handled on the network thread, as its command's response is (the
    router's): the LMS then sees them in the order the agent sent them. On the dispatcher thread a ``running``
    could come after its answer (behind a backlog, e.g. what the broker kept while the LMS was down) and was lost."""
    return b'"command.state"' in msg.payload
