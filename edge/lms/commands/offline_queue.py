"""Commands waiting for an offline agent (opt-in for commands, automatic for settings writes).

A queued command is a row of ``command_queue`` (:mod:`edge.lms.commands.queue_rows`; durable: it survives an LMS
restart) with a TTL. When the registry announces the agent online, a worker drains that agent's rows **in order,
one at a time** (a settings write and a later one must not swap), each through the router like any command; the
outcome is stored on the row. Rows past their TTL become ``expired`` without running. If the agent drops again
mid-drain the row stays ``queued``. States: ``queued`` -> ``delivering`` -> ``done`` / ``expired`` /
``cancelled``; a row found ``delivering`` at start-up (the LMS stopped mid-delivery; the agent may or may
not have run it) becomes ``interrupted`` rather than being run twice — unless it is a cloud command's: that one is
queued again, as is one answered ``busy`` or not answered in time, since the agent answers a cloud command it ran
from its journal (docs/architecture.md#delivery-of-commands-and-results). A sweep every :data:`SWEEP_INTERVAL_S`
expires old rows and drains online agents whose presence change was missed.

A row may belong to a cloud command (``command_id``): a :class:`QueueReporter` (the fan-out of cloud commands) is
told when it is handed to the agent, when it ends, and when it ends without running (expired, cancelled), so
that the cloud sees ``queued`` -> ``delivered`` -> ... -> the terminal status. Each such step is logged with the
command id.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from edge.lms.agents import AgentView, Registry
from edge.lms.commands.queue_rows import QueueRows
from edge.lms.commands.router import Router
from edge.lms.commands.ticket import Ticket, response_fields
from edge.lms.store import Store
from shared.errors import ErrorCode
from shared.messages import CommandStatus, Presence, Response
from shared.periodic import Periodic

log = logging.getLogger(__name__)

#: a cloud command's row ended by the router with one of these, its agent never having answered, is queued again
_UNANSWERED_AGAIN = frozenset({ErrorCode.TIMEOUT, ErrorCode.INTERNAL})

SWEEP_INTERVAL_S = 5.0
DRAIN_WORKERS = 8


class QueueReporter(Protocol):
    """Told what becomes of queued cloud commands (called from the queue's threads: quick, never blocking)."""

    def delivered(self, command_id: str, ticket: Ticket) -> None:
        """The command was handed to the agent (``ticket.delivered``)."""
        ...

    def finished(self, command_id: str, ticket: Ticket, response: Response) -> None:
        """The command ended after it was sent (answered, failed, timed out)."""
        ...

    def dropped(self, command_id: str, agent_id: str, status: CommandStatus, error: str) -> None:
        """The command ended without running (``expired``, or ``failed``: cancelled on the site)."""
        ...


class CommandQueue:
    """:meth:`attach` (presence listener), :meth:`start`, :meth:`enqueue`, :meth:`stop`."""

    def __init__(self, store: Store, router: Router, registry: Registry) -> None:
        self._rows = QueueRows(store)
        self._router = router
        self._registry = registry
        self._draining: set[str] = set()
        self._waiting: set[str] = set()  # agents with queued rows (refreshed by every sweep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._sweeper = Periodic("lms-queue-sweeper", self.sweep, SWEEP_INTERVAL_S, run_at_start=False,
                                 join_timeout_s=5.0)  # fmt: skip
        self.delivered = 0
        self.expired = 0
        self.reporter: QueueReporter | None = None

    # ------------------------------------------------------------ lifecycle

    def attach(self) -> None:
        self._registry.add_listener(self._on_presence)

    def start(self) -> CommandQueue:
        requeued, interrupted = self._rows.interrupt_delivering(
            "the LMS stopped while delivering; it may or may not have run")
        if interrupted:
            log.warning("queue: %d commands were being delivered when the LMS stopped: marked interrupted", interrupted)
        if requeued:
            log.warning("queue: %d cloud commands were being delivered when the LMS stopped: queued again", requeued)
        self._refresh_waiting()
        self._stop.clear()
        self._pool = ThreadPoolExecutor(DRAIN_WORKERS, thread_name_prefix="lms-queue")
        self._sweeper.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._sweeper.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------ API

    def enqueue(
        self,
        agent_id: str,
        command: str,
        params: dict[str, Any],
        *,
        timeout_s: float | None,
        ttl_s: float,
        actor: str | None,
        command_id: str | None = None,
    ) -> dict[str, Any]:
        """Store one command for the agent (params already validated). Delivery starts if it is online.
        ``command_id``: the cloud's id, for a cloud command (its progress is reported to :attr:`reporter`)."""
        item = self.get(self._rows.add(agent_id, command, params, timeout_s=timeout_s, ttl_s=ttl_s, actor=actor,
                                       command_id=command_id))  # fmt: skip
        assert item is not None
        with self._lock:
            self._waiting.add(agent_id)
        if self._registry.presence(agent_id) is Presence.ONLINE:
            self.kick(agent_id)  # it came back between the check and now
        return item

    def get(self, item_id: int) -> dict[str, Any] | None:
        return self._rows.get(item_id)

    def entries(
        self, agent_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return self._rows.entries(agent_id, state, limit)

    def depth(self) -> int:
        return self._rows.depth()

    def cancel(self, item_id: int) -> bool:
        """Cancel a still-queued command. ``False`` when it is not queued (any more)."""
        row = self._rows.get(item_id)
        if not self._rows.cancel(item_id):
            return False
        if row is not None and row.get("command_id"):
            log.info("queue: cancelled #%d command_id=%s agent_id=%s", item_id, row["command_id"], row["agent_id"],
                     extra={"command_id": row["command_id"], "agent_id": row["agent_id"]})
            if self.reporter is not None:
                self.reporter.dropped(row["command_id"], row["agent_id"], CommandStatus.FAILED,
                                      "cancelled in the site's offline queue")
        return True

    def kick(self, agent_id: str) -> None:
        """Start draining the agent's queue (no-op when already draining or stopped)."""
        with self._lock:
            if self._pool is None or agent_id in self._draining:
                return
            self._draining.add(agent_id)
            pool = self._pool
        try:
            pool.submit(self._drain, agent_id)
        except RuntimeError:  # shutting down
            with self._lock:
                self._draining.discard(agent_id)

    # ------------------------------------------------------------ internals

    def _on_presence(self, view: AgentView) -> None:
        # Only agents with something queued: a presence change (e.g. ClassTop clients reconnecting by the
        # hundred) must not cost a database transaction each.
        if view.online and view.agent_id in self._waiting:
            self.kick(view.agent_id)

    def _refresh_waiting(self) -> list[str]:
        """Re-read which agents have queued rows (the in-memory set only speeds up presence changes)."""
        agents = self._rows.agents_waiting()
        with self._lock:
            self._waiting = set(agents)
        return agents

    def _expire(self) -> None:
        expired = self._rows.expire()
        if not expired:
            return
        self.expired += len(expired)
        log.info("queue: %d commands expired before their agent came back", len(expired))
        for agent_id, command_id in expired:
            if command_id is None:
                continue
            log.info("queue: expired command_id=%s agent_id=%s", command_id, agent_id,
                     extra={"command_id": command_id, "agent_id": agent_id})
            if self.reporter is not None:
                self.reporter.dropped(command_id, agent_id, CommandStatus.EXPIRED,
                                      "expired in the site's offline queue before the agent came back")

    def sweep(self) -> None:
        """Expire old rows; start draining online agents that still have queued rows (missed events)."""
        self._expire()
        for agent_id in self._refresh_waiting():
            if self._registry.presence(agent_id) is Presence.ONLINE:
                self.kick(agent_id)

    def _drain(self, agent_id: str) -> None:
        try:
            while not self._stop.is_set():
                self._expire()
                row = self._rows.next_queued(agent_id)
                if row is None:
                    with self._lock:
                        self._waiting.discard(agent_id)
                    return
                if self._registry.presence(agent_id) is not Presence.ONLINE:
                    return
                if not self._deliver(row):
                    return
        except Exception:
            log.exception("queue: draining %s failed", agent_id)
        finally:
            with self._lock:
                self._draining.discard(agent_id)

    def _deliver(self, row: dict[str, Any]) -> bool:
        """Run one queued command; ``False`` when the agent went offline again (the row stays queued)."""
        request_id = self._router.new_request_id()
        if not self._rows.start_delivery(row["id"], request_id):
            return True  # cancelled meanwhile
        command_id: str | None = row.get("command_id")
        ticket = self._router.dispatch(
            row["agent_id"],
            row["command"],
            row["params"] or {},
            row["timeout_s"],
            source="queue",
            request_id=request_id,
            command_id=command_id,
        )
        reporter = self.reporter if command_id else None
        if reporter is not None and command_id and ticket.delivered:
            reporter.delivered(command_id, ticket)
        response = ticket.result()
        if not ticket.delivered and response.error_code is ErrorCode.AGENT_OFFLINE:
            self._rows.requeue(row["id"])
            return False
        if command_id and (response.error_code is ErrorCode.BUSY or
                           (response.error_code in _UNANSWERED_AGAIN and not ticket.answered)):
            # a cloud command that did not run (busy) or may not have reached the agent (no answer in time, the LMS
            # stopping): later (the sweep, the next start), within its TTL; its agent's journal answers it if it ran
            self._rows.requeue(row["id"])
            return False
        self._rows.finish(row["id"], {"success": response.success, **response_fields(response)})
        self.delivered += 1
        log.info("queue: delivered %s #%d to %s%s: %s", row["command"], row["id"], row["agent_id"],
                 f" command_id={command_id}" if command_id else "", response.status.value,
                 extra={"command_id": command_id, "agent_id": row["agent_id"]})  # fmt: skip
        if reporter is not None and command_id:
            reporter.finished(command_id, ticket, response)
        return True
