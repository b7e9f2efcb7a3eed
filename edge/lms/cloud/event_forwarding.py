"""Agent events the cloud gets: ``cctv.*``, ``health.*`` and any of severity warning or worse, as ``site_events``
messages on ``site_up(namespace, site, EVENTS)`` through the durable outbox (at most 500 events and ~96 KB each).

The agent events writer (:class:`edge.lms.events.AgentEvents`) hands each stored batch to an
:class:`EventForwarder`, on its one thread. With a cloud link to come (``await_outbox``), events are held until the
outbox is set (at most :data:`MAX_HELD`, the oldest dropped first) and then sent before any newer ones. Events the
outbox refused (a full disk: ``database or disk is full``) are held the same way and offered again, in order, at the
writer's next round (:attr:`EventForwarder.held`: the writer comes back every second while some are).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from shared import topics
from shared.messages import AgentEvent, Event, Severity, SiteEvents, encode
from shared.messages.site import MAX_EVENTS_PER_MESSAGE
from shared.names import Namespace
from shared.topics import SiteUp

log = logging.getLogger(__name__)

#: Kinds never forwarded: the LMS's own views (command progress, process lists) and the ClassTop sync.
NOT_FORWARDED = frozenset({"command.state", "processes", "classtop.snapshot"})
FORWARDED_PREFIXES = ("cctv.", "health.")
FORWARDED_SEVERITIES = frozenset({Severity.WARNING, Severity.ERROR, Severity.CRITICAL})
#: Events per ``site_events`` message (the cloud's limit) and a size budget well under IoT Core's 128 KB.
MAX_MESSAGE_BYTES = 96 * 1024
#: Events held for a cloud link that is not there yet (the oldest are dropped beyond this).
MAX_HELD = 10_000


def truncated(size: int) -> dict[str, Any]:
    """What stands for event data too big to keep or send whole."""
    return {"truncated": True, "bytes": size}


class OutboxSink(Protocol):
    def put(self, topic: str, message: BaseModel | bytes) -> int: ...


def forwarded(event: Event) -> bool:
    """Whether the cloud gets this event."""
    if event.kind in NOT_FORWARDED:
        return False
    return event.kind.startswith(FORWARDED_PREFIXES) or event.severity in FORWARDED_SEVERITIES


def site_event_messages(events: Sequence[tuple[str, Event]]) -> list[SiteEvents]:
    """Split ``(agent_id, event)`` pairs into messages within the count and size limits (order kept). An event that
    cannot be sent (it fails validation or encoding, or is too big alone) is logged and left out: one bad event
    never costs the others their place."""
    out: list[SiteEvents] = []
    run: list[AgentEvent] = []
    size = 0
    for agent_id, event in events:
        try:
            item = AgentEvent(agent_id=agent_id, event=event)
            item_size = len(encode(item)) + 1
        except (ValueError, TypeError, RecursionError) as exc:  # pydantic's errors are ValueErrors
            log.warning("events: not forwarding %s's %s event: %s", agent_id, event.kind, str(exc)[:300])
            continue
        if item_size > MAX_MESSAGE_BYTES:  # as the event log keeps it: its data replaced by a marker
            item = AgentEvent(agent_id=agent_id, event=event.model_copy(update={"data": truncated(item_size)}))
            item_size = len(encode(item)) + 1
        if run and (len(run) >= MAX_EVENTS_PER_MESSAGE or size + item_size > MAX_MESSAGE_BYTES):
            out.append(SiteEvents(events=run))
            run, size = [], 0
        run.append(item)
        size += item_size
    if run:
        out.append(SiteEvents(events=run))
    return out


class EventForwarder:
    """Called on the events writer's thread only (no locking)."""

    def __init__(self, namespace: Namespace, site_id: str, *, outbox: OutboxSink | None = None,
                 await_outbox: bool = False) -> None:  # fmt: skip
        self._topic = topics.site_up(namespace, site_id, SiteUp.EVENTS)
        self.outbox = outbox
        #: with a cloud link to come, events for the cloud are held until :attr:`outbox` is set
        self._await_outbox = await_outbox
        self._held: list[tuple[str, Event]] = []
        self._refused = False  # the outbox refused the last message offered (logged once per run of refusals)
        self.forwarded = 0

    def send_held(self, outbox: OutboxSink | None) -> None:
        """Once there is an outbox: what was held while waiting for it."""
        if self._held and outbox is not None:
            held, self._held = self._held, []
            self._forward(outbox, held)

    @property
    def held(self) -> int:
        """Events waiting for the outbox (not set yet, or it refused them)."""
        return len(self._held)

    def forward(self, outbox: OutboxSink | None, events: Sequence[tuple[str, Event]]) -> None:
        """The events of ``events`` the cloud gets: to ``outbox``, or held for it."""
        up = [(agent_id, e) for agent_id, e in events if forwarded(e)]
        if not up:
            return
        if outbox is not None and not self._held:
            self._forward(outbox, up)
        elif outbox is not None or self._await_outbox:  # after those still waiting: the order is kept
            self._held = (self._held + up)[-MAX_HELD:]

    def _forward(self, outbox: OutboxSink, up: list[tuple[str, Event]]) -> None:
        messages = site_event_messages(up)
        for i, message in enumerate(messages):
            try:
                outbox.put(self._topic, message)
                self.forwarded += len(message.events)
            except Exception as exc:  # the outbox's database refuses writes: held, offered again next round
                rest = [(e.agent_id, e.event) for m in messages[i:] for e in m.events]
                self._held = (rest + self._held)[-MAX_HELD:]
                if not self._refused:
                    log.error("events: the outbox refused %d event(s) for the cloud (%s): held, offered again",
                              len(rest), exc)  # fmt: skip
                self._refused = True
                return
        if self._refused:
            log.info("events: the outbox takes events for the cloud again")
        self._refused = False
