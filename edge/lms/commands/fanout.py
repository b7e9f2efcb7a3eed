"""Cloud batch commands: one ``SiteCommand`` from IoT Core fans out to its target agents through the router.

Each agent's request carries the cloud's id (``Command.command_id``; the LMS's own ``request_id`` stays the
per-agent key). For each target the LMS reports, on ``site_up(namespace, site, RESULTS)`` through the durable
outbox, the states it passes and the hops with their times (:mod:`edge.lms.commands.result_buffer`: batched,
changed-only; the cloud keeps the hops of ``GET /api/commands/{id}``):

1. ``queued`` when the agent is offline: the command waits in the site's offline queue
   (:mod:`edge.lms.commands.offline_queue`) until the agent returns or the command's delivery window
   (``expires_at``) ends (then ``expired``);
2. ``delivered`` once it is handed to the site broker for the agent (not for targets that fail before sending:
   unknown, invalid...);
3. ``queued`` / ``running`` as the agent reports them (``command.state`` events: a free slot awaited, started);
4. the terminal status (succeeded / failed / timed_out / rejected / expired) with data or error.

Hops: ``received`` (the LMS took the site's message), ``queued``, ``delivered``, ``started`` (the agent's
``running``, on its clock) and ``finished`` (the LMS received the answer). Every hop is logged with
``command_id=`` (and ``agent_id=``), also as the log record's ``command_id`` attribute.

Ordering: one worker thread does everything that writes results; a status only ever moves forward.
Concurrency is bounded by a semaphore released from the completion callbacks (no thread per command).

Bad messages from the cloud are logged, counted and dropped; a repeated ``request_id`` (QoS 1 redelivery)
is ignored — also across an LMS restart: handled ids are recorded in SQLite (``cloud_commands``, kept
:data:`DEDUPE_DAYS` days) before the command is sent, so a command is run at most once per site.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from edge.lms.agents import Registry
from edge.lms.auth import Audit
from edge.lms.commands.cloud_command_ids import CloudCommandIds
from edge.lms.commands.command_service import audit_params, audited
from edge.lms.commands.offline_queue import CommandQueue
from edge.lms.commands.progress import Progress
from edge.lms.commands.result_buffer import MAX_RESULTS_PER_MESSAGE, Report, ResultBuffer
from edge.lms.commands.router import Router, Ticket
from edge.lms.store import Store
from shared import topics
from shared.commands import validate_params
from shared.errors import CommandError, ErrorCode, SharedError
from shared.messages import AgentResult, CommandResults, CommandStatus, Presence, Response, SiteCommand, decode
from shared.messages.command import CommandHop
from shared.names import Namespace
from shared.topics import SiteUp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

_DEDUPE = 10_000
#: How long handled cloud command ids are remembered (IoT Core keeps a session's messages for at most days).
DEDUPE_DAYS = 7.0
_PRUNE_EVERY = 1000  # commands between prunes of old ids
#: The LMS's request ids of cloud commands remembered (to match the agents' progress events to them).
_REQUESTS = 100_000
#: How long a queued cloud command without a delivery window (``expires_at``) waits for its agent.
DEFAULT_QUEUE_TTL_S = 86400.0
_PROGRESS_HOPS = {CommandStatus.QUEUED: CommandHop.QUEUED, CommandStatus.RUNNING: CommandHop.STARTED}


class ResultsOutbox(Protocol):
    """Where results go: the cloud outbox (durable when ``put`` returns; ``ValueError`` for a message too big)."""

    def put(self, topic: str, message: CommandResults) -> int: ...


@dataclass
class FanoutStats:
    commands: int = 0
    bad_messages: int = 0
    duplicates: int = 0
    expired: int = 0
    results: int = 0
    queued: int = 0


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes
    received_at: float


_STOP = object()


def _log_hop(hop: str, command_id: str, agent_id: str, detail: str = "") -> None:
    log.info("fanout: %s command_id=%s agent_id=%s%s", hop, command_id, agent_id, detail,
             extra={"command_id": command_id, "agent_id": agent_id})


class Fanout:
    """:meth:`handle` is the cloud link's handler for ``site_down``; :meth:`start` the worker. With an ``offline_queue``
    (and the ``registry``), commands for offline agents wait in it; :meth:`on_progress` takes the agents'
    ``command.state`` progress (``CommandProgress.add_listener``)."""

    def __init__(
        self, router: Router, outbox: ResultsOutbox, *, namespace: Namespace, site_id: str, concurrency: int = 256,
        audit: Audit | None = None, store: Store | None = None, offline_queue: CommandQueue | None = None,
        registry: Registry | None = None, buffer: ResultBuffer | None = None,
    ) -> None:  # fmt: skip
        self._router = router
        self._ids = CloudCommandIds(store) if store is not None else None
        self._audit = audit
        self._outbox = outbox
        self._offline_queue = offline_queue if registry is not None else None
        self._registry = registry
        self._results_topic = topics.site_up(namespace, site_id, SiteUp.RESULTS)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._queue: queue.Queue[object] = queue.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._buffer = buffer or ResultBuffer()
        self._requests: OrderedDict[str, tuple[str, str]] = OrderedDict()  # request id -> (command id, agent)
        self._requests_lock = threading.Lock()
        self._worker = WorkerThread("lms-fanout", self._run, wake=lambda: self._queue.put(_STOP))
        self.stats = FanoutStats()
        if self._offline_queue is not None:
            self._offline_queue.reporter = self

    def start(self) -> None:
        self._prune()
        self._worker.start()

    def stop(self) -> None:
        """End this LMS's share of in-flight cloud commands (reported as failed), then drain to the outbox."""
        self._worker.stopping.set()  # no new slot is waited for from now on
        failed = self._router.fail_pending("the LMS stopped before the agent answered", source="cloud")
        if failed:
            log.info("fanout: %d cloud command(s) still running at shutdown reported as failed", failed)
        self._worker.stop()  # the worker drains what is queued (the failures above too) to the outbox

    def handle(self, topic: str, payload: bytes) -> None:
        """Cloud link handler (awscrt thread): only enqueue."""
        self._queue.put(_Incoming(topic, payload, time.time()))

    # ------------------------------------------------------------ progress from agents and the offline queue

    def on_progress(self, progress: Progress) -> None:
        """An agent's ``command.state`` (any thread): ``queued`` (for a slot) or ``running`` of a cloud command."""
        found = self._request(progress.request_id)
        if found is None or found[1] != progress.agent_id:
            return  # a site command, or not this agent's: nothing for the cloud
        command_id, agent_id = found
        status = CommandStatus(progress.status)
        _log_hop(status.value, command_id, agent_id, f" request_id={progress.request_id}")
        self._queue.put(Report(command_id, agent_id, status, {_PROGRESS_HOPS[status]: progress.at}))

    def delivered(self, command_id: str, ticket: Ticket) -> None:
        """The offline queue handed a cloud command to its agent."""
        self._remember_request(ticket.request_id, command_id, ticket.agent_id)
        _log_hop("delivered", command_id, ticket.agent_id, f" request_id={ticket.request_id} from the queue")
        self._queue.put(Report(command_id, ticket.agent_id, CommandStatus.DELIVERED,
                               {CommandHop.DELIVERED: time.time()}))  # fmt: skip

    def finished(self, command_id: str, ticket: Ticket, response: Response) -> None:
        """A cloud command from the offline queue ended."""
        self._queue.put(self._terminal(command_id, ticket, response))

    def dropped(self, command_id: str, agent_id: str, status: CommandStatus, error: str) -> None:
        """A cloud command ended in the offline queue without running (expired, cancelled)."""
        code = ErrorCode.TIMEOUT if status is CommandStatus.EXPIRED else None
        self._queue.put(Report(command_id, agent_id, status, error=error, error_code=code))

    def _remember_request(self, request_id: str, command_id: str, agent_id: str) -> None:
        with self._requests_lock:
            self._requests[request_id] = (command_id, agent_id)
            while len(self._requests) > _REQUESTS:
                self._requests.popitem(last=False)

    def _request(self, request_id: str) -> tuple[str, str] | None:
        with self._requests_lock:
            found = self._requests.get(request_id)
        if found is None:
            ticket = self._router.pending(request_id)
            if ticket is not None and ticket.command_id is not None:
                found = (ticket.command_id, ticket.agent_id)
        return found

    # ------------------------------------------------------------ worker

    def _run(self) -> None:
        while True:
            try:
                item: object = self._queue.get(timeout=self._buffer.wait_s())
            except queue.Empty:
                item = None
            stop = False
            while item is not None:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Incoming):
                    self._on_command(item)
                elif isinstance(item, Report):
                    self._buffer.add(item)
                    if len(self._buffer) >= MAX_RESULTS_PER_MESSAGE:
                        self._flush()
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = None
            if stop:
                self._flush()
                return
            if self._buffer.due():
                self._flush()

    def _flush(self) -> None:
        """Write what the buffer holds (in order) to the outbox in as few messages as fit."""
        pending = self._buffer.take()
        for i in range(0, len(pending), MAX_RESULTS_PER_MESSAGE):
            self._put(pending[i : i + MAX_RESULTS_PER_MESSAGE])
        by_command: dict[str, list[AgentResult]] = {}
        for result in pending:
            by_command.setdefault(result.request_id, []).append(result)
        for command_id, results in by_command.items():
            statuses = sorted({r.status.value for r in results})
            log.info("fanout: results for the cloud command_id=%s agents=%d statuses=%s", command_id, len(results),
                     ",".join(statuses), extra={"command_id": command_id})  # fmt: skip

    def _remember(self, request_id: str) -> bool:
        """Record the id durably: False if an earlier run of this LMS handled it already."""
        if self._ids is None:
            return True
        try:
            return self._ids.remember(request_id, time.time())
        except Exception:  # the command still runs: losing it would be worse than a rare second run
            log.exception("fanout: could not record command %s as handled", request_id)
            return True

    def _prune(self) -> None:
        if self._ids is None:
            return
        try:
            self._ids.forget(time.time() - DEDUPE_DAYS * 86400)
        except Exception:
            log.exception("fanout: could not prune old cloud command ids")

    def _put(self, chunk: list[AgentResult]) -> None:
        try:
            self._outbox.put(self._results_topic, CommandResults(results=chunk))
        except ValueError:  # too big for one message: halve it (order kept)
            if len(chunk) == 1:
                log.error("fanout: result of %s for %s is too large; dropped", chunk[0].request_id, chunk[0].agent_id)
                return
            half = len(chunk) // 2
            self._put(chunk[:half])
            self._put(chunk[half:])
            return
        except Exception:
            log.exception("fanout: could not queue %d result(s) for the cloud", len(chunk))
            return
        self.stats.results += len(chunk)

    def _on_command(self, item: _Incoming) -> None:
        try:
            command = decode(SiteCommand, item.payload)
        except SharedError as exc:
            self.stats.bad_messages += 1
            log.warning("fanout: dropped message on %s: %s", item.topic, exc)
            return
        command_id = command.request_id
        if command_id in self._seen or not self._remember(command_id):
            self.stats.duplicates += 1
            log.info("fanout: command %s already handled; ignored", command_id, extra={"command_id": command_id})
            return
        self._seen[command_id] = None
        while len(self._seen) > _DEDUPE:
            self._seen.popitem(last=False)
        self.stats.commands += 1
        if self.stats.commands % _PRUNE_EVERY == 0:
            self._prune()
        targets = list(dict.fromkeys(command.targets))
        log.info("fanout: received command_id=%s command=%s agents=%d", command_id, command.command, len(targets),
                 extra={"command_id": command_id})  # fmt: skip
        received = {CommandHop.RECEIVED: item.received_at}
        if command.expires_at is not None and command.expires_at < time.time():
            self.stats.expired += 1
            for agent_id in targets:
                self._buffer.add(Report(command_id, agent_id, CommandStatus.EXPIRED, dict(received),
                                        error="expired before delivery", error_code=ErrorCode.TIMEOUT))
            return
        if self._audit is not None and audited(command.command):
            try:
                self._audit.record(
                    "cloud", None, f"cloud:{command.command}", ",".join(targets)[:512], "sent",
                    {"request_id": command_id, "params": audit_params(command.params)},
                )  # fmt: skip
            except Exception:
                log.exception("fanout: could not audit %s", command_id)
        for agent_id in targets:
            if self._enqueue(command, agent_id, received):
                continue
            if not self._acquire():
                return
            request_id = self._router.new_request_id()
            self._remember_request(request_id, command_id, agent_id)
            ticket = self._router.dispatch(
                agent_id, command.command, command.params, command.timeout_s, source="cloud", request_id=request_id,
                command_id=command_id,
            )  # fmt: skip
            hops = dict(received)
            if ticket.delivered:
                hops[CommandHop.DELIVERED] = time.time()
                _log_hop("delivered", command_id, agent_id, f" request_id={request_id}")
                self._buffer.add(Report(command_id, agent_id, CommandStatus.DELIVERED, hops))
            else:
                self._buffer.note(command_id, agent_id, hops)  # its terminal result follows at once
            if len(self._buffer) >= MAX_RESULTS_PER_MESSAGE:
                self._flush()
            ticket.future.add_done_callback(functools.partial(self._done, command_id, ticket))

    def _enqueue(self, command: SiteCommand, agent_id: str, received: dict[CommandHop, float]) -> bool:
        """Put the command for an offline agent in the offline queue (``queued``); ``False``: send it now."""
        if self._offline_queue is None or self._registry is None:
            return False
        if self._registry.presence(agent_id) is not Presence.OFFLINE:
            return False
        try:
            params = validate_params(command.command, command.params).model_dump(mode="json", exclude_unset=True)
        except CommandError:
            return False  # the router refuses it at once, with the same error
        ttl_s = DEFAULT_QUEUE_TTL_S if command.expires_at is None else command.expires_at - time.time()
        try:
            row = self._offline_queue.enqueue(agent_id, command.command, params, timeout_s=command.timeout_s,
                                              ttl_s=max(ttl_s, 1.0), actor="cloud", command_id=command.request_id)
        except Exception:
            log.exception("fanout: could not queue %s for %s", command.request_id, agent_id)
            return False
        self.stats.queued += 1
        _log_hop("queued", command.request_id, agent_id, f" (agent offline; queue #{row['id']})")
        self._buffer.add(Report(command.request_id, agent_id, CommandStatus.QUEUED,
                                {**received, CommandHop.QUEUED: time.time()}))  # fmt: skip
        return True

    def _acquire(self) -> bool:
        while not self._slots.acquire(timeout=0.5):
            if self._worker.stopping.is_set():
                return False
        return True

    def _done(self, command_id: str, ticket: Ticket, fut: Future[Response]) -> None:
        """Completion callback (any thread): hand the terminal result to the worker, free the slot."""
        try:
            if fut.cancelled():
                response = Response.fail(ticket.request_id, ErrorCode.INTERNAL, "cancelled")
            else:
                response = fut.result()
            self._queue.put(self._terminal(command_id, ticket, response))
        finally:
            self._slots.release()

    @staticmethod
    def _terminal(command_id: str, ticket: Ticket, response: Response) -> Report:
        hops = {CommandHop.FINISHED: time.time()} if ticket.answered else {}
        _log_hop("finished", command_id, ticket.agent_id,
                 f" request_id={ticket.request_id} status={response.status.value}")
        return Report(command_id, ticket.agent_id, response.status, hops, response=response)
