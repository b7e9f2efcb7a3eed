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

Ordering: one worker thread does everything that writes results and sends requests; a status only ever moves
forward. Each agent gets at most as many requests at once as it has command slots (:class:`Pacer`: it says how
many in its ``busy`` answers), at most ``concurrency`` in all; the others wait their turn (no thread per command).

Nothing is lost to a crash, and nothing runs twice (docs/architecture.md#delivery-of-commands-and-results): each
``(command, agent)`` is a row of ``cloud_requests`` (:mod:`edge.lms.commands.cloud_requests`), written with the
command id (``cloud_commands``) in one transaction and deleted only once its terminal result is in the durable
outbox. A ``busy`` answer (nothing ran) and a request left without an answer (``timeout``: the request or its
answer may have been lost) are asked again with backoff, under a new request id, until the delivery window
(``expires_at``) ends; the agent answers a command it ran already from its journal
(:mod:`edge.agent.command_journal`). At start the LMS asks again for every row an earlier run left.

Bad messages from the cloud are logged, counted and dropped; a repeated ``request_id`` (QoS 1 redelivery)
is ignored — also across an LMS restart: handled ids are recorded in SQLite (``cloud_commands``, kept
:data:`DEDUPE_DAYS` days) before the command is sent.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import OrderedDict
from dataclasses import dataclass

from edge.lms.agents import Registry
from edge.lms.auth import Audit
from edge.lms.commands.attempts import Attempts, Late, Outcome, log_hop, terminal_report
from edge.lms.commands.cloud_command_ids import CloudCommandIds
from edge.lms.commands.cloud_requests import CloudRequest, CloudRequestRows, RequestIds
from edge.lms.commands.command_service import audit_params, audited
from edge.lms.commands.offline_queue import CommandQueue
from edge.lms.commands.progress import Progress
from edge.lms.commands.result_buffer import MAX_RESULTS_PER_MESSAGE, Report, ResultBuffer
from edge.lms.commands.result_writer import ResultsOutbox, ResultWriter
from edge.lms.commands.router import Router
from edge.lms.commands.ticket import Ticket
from edge.lms.store import Store
from shared import topics
from shared.commands import validate_params
from shared.errors import CommandError, ErrorCode, SharedError
from shared.messages import CommandStatus, Presence, Response, SiteCommand, decode
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
_RESUME = object()


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
        self._rows = CloudRequestRows(store) if store is not None else None
        self._audit = audit
        self._offline_queue = offline_queue if registry is not None else None
        self._registry = registry
        self._queue: queue.Queue[object] = queue.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._buffer = buffer or ResultBuffer()
        results_topic = topics.site_up(namespace, site_id, SiteUp.RESULTS)
        self._writer = ResultWriter(self._buffer, outbox, results_topic, self._rows)
        self._requests = RequestIds(_REQUESTS)
        self._worker = WorkerThread("lms-fanout", self._run, wake=lambda: self._queue.put(_STOP))
        self._attempts = Attempts(
            router, self._buffer, self._writer, self._requests, concurrency=concurrency, post=self._queue.put,
            flush=self._flush, stopping=self._worker.stopping, enqueue=self._enqueue, lookup=self._request,
        )  # fmt: skip
        router.on_late = self._attempts.late
        self.stats = FanoutStats()
        if self._offline_queue is not None:
            self._offline_queue.reporter = self

    def start(self) -> None:
        self._prune()
        self._queue.put(_RESUME)  # first: what an earlier run left unfinished
        self._worker.start()

    def stop(self) -> None:
        """Stop sending; what is queued drains to the outbox. Requests still unanswered stay in ``cloud_requests``:
        the next start asks their agents again (an agent that ran one answers from its journal)."""
        self._worker.stopping.set()
        self._worker.stop()

    def handle(self, topic: str, payload: bytes) -> None:
        """Cloud link handler (awscrt thread): only enqueue."""
        self._queue.put(_Incoming(topic, payload, time.time()))

    # ------------------------------------------------------------ progress from agents and the offline queue

    def on_progress(self, progress: Progress) -> None:
        """An agent's ``command.state`` (any thread): ``queued`` (for a slot) or ``running`` of a cloud command."""
        found = self._request(progress.request_id)
        if found is None and progress.command_id is not None:
            self._queue.put(progress)  # an earlier run's request (the LMS restarted): the worker matches its command
            return
        if found is None or found[1] != progress.agent_id:
            return  # a site command, or not this agent's: nothing for the cloud
        command_id, agent_id = found
        status = CommandStatus(progress.status)
        log_hop(status.value, command_id, agent_id, f" request_id={progress.request_id}")
        self._queue.put(Report(command_id, agent_id, status, {_PROGRESS_HOPS[status]: progress.at}))

    def _earlier_progress(self, progress: Progress) -> None:
        """Progress under a request id this run of the LMS did not choose (it was sent, and the agent reported it,
        while the LMS was down; the site broker's session kept it): it counts if this LMS reports on that command
        to that agent (resumed from ``cloud_requests``, or queued) and has not sent its end yet. An agent cannot
        move another agent's command, nor one this site never gave it."""
        assert progress.command_id is not None
        key = (progress.command_id, progress.agent_id)
        if not self._buffer.tracks(key):
            return
        status = CommandStatus(progress.status)
        log_hop(status.value, *key, f" request_id={progress.request_id} (an earlier run's request)")
        self._buffer.add(Report(*key, status, {_PROGRESS_HOPS[status]: progress.at}))
        if len(self._buffer) >= MAX_RESULTS_PER_MESSAGE:
            self._flush()

    def delivered(self, command_id: str, ticket: Ticket) -> None:
        """The offline queue handed a cloud command to its agent."""
        self._remember_request(ticket.request_id, command_id, ticket.agent_id)
        log_hop("delivered", command_id, ticket.agent_id, f" request_id={ticket.request_id} from the queue")
        self._queue.put(Report(command_id, ticket.agent_id, CommandStatus.DELIVERED,
                               {CommandHop.DELIVERED: time.time()}))  # fmt: skip

    def finished(self, command_id: str, ticket: Ticket, response: Response) -> None:
        """A cloud command from the offline queue ended."""
        self._queue.put(terminal_report(command_id, ticket, response))

    def dropped(self, command_id: str, agent_id: str, status: CommandStatus, error: str) -> None:
        """A cloud command ended in the offline queue without running (expired, cancelled)."""
        code = ErrorCode.TIMEOUT if status is CommandStatus.EXPIRED else None
        self._queue.put(Report(command_id, agent_id, status, error=error, error_code=code))

    def _remember_request(self, request_id: str, command_id: str, agent_id: str) -> None:
        self._requests.add(request_id, command_id, agent_id)

    def _request(self, request_id: str) -> tuple[str, str] | None:
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
                item: object = self._queue.get(timeout=self._wait_s())
            except queue.Empty:
                item = None
            stop = False
            while item is not None:
                if item is _STOP:
                    stop = True
                elif item is _RESUME:
                    self._resume()
                elif isinstance(item, _Incoming):
                    self._on_command(item)
                elif isinstance(item, Outcome):
                    self._attempts.on_outcome(item)
                elif isinstance(item, Late):
                    self._attempts.on_late(item)
                elif isinstance(item, Progress):
                    self._earlier_progress(item)
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
            self._attempts.due()
            if self._buffer.due() or self._writer.retry_due():
                self._flush()

    def _flush(self) -> None:
        self._writer.flush()
        self.stats.results = self._writer.written

    def _wait_s(self) -> float | None:
        waits = [w for w in (self._attempts.pacer.wait_s(), self._buffer.wait_s(), self._writer.retry_wait_s())
                 if w is not None]
        return min(waits) if waits else None

    def _prune(self) -> None:
        if self._ids is None:
            return
        try:
            self._ids.forget(time.time() - DEDUPE_DAYS * 86400)
        except Exception:
            log.exception("fanout: could not prune old cloud command ids")

    def _on_command(self, item: _Incoming) -> None:
        try:
            command = decode(SiteCommand, item.payload)
        except SharedError as exc:
            self.stats.bad_messages += 1
            log.warning("fanout: dropped message on %s: %s", item.topic, exc)
            return
        command_id = command.request_id
        targets = list(dict.fromkeys(command.targets))
        expired = command.expires_at is not None and command.expires_at < time.time()
        requests = [CloudRequest(command_id, agent_id, command.command, command.params, command.timeout_s,
                                 command.expires_at, item.received_at) for agent_id in targets]  # fmt: skip
        if command_id in self._seen or not self._admit(command_id, item.received_at, [] if expired else requests):
            self.stats.duplicates += 1
            log.info("fanout: command %s already handled; ignored", command_id, extra={"command_id": command_id})
            return
        self._seen[command_id] = None
        while len(self._seen) > _DEDUPE:
            self._seen.popitem(last=False)
        self.stats.commands += 1
        if self.stats.commands % _PRUNE_EVERY == 0:
            self._prune()
        log.info("fanout: received command_id=%s command=%s agents=%d", command_id, command.command, len(targets),
                 extra={"command_id": command_id})  # fmt: skip
        if expired:
            self.stats.expired += 1
            for agent_id in targets:
                self._buffer.add(Report(command_id, agent_id, CommandStatus.EXPIRED,
                                        {CommandHop.RECEIVED: item.received_at},
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
        for request in requests:
            self._attempts.begin(request)

    def _admit(self, command_id: str, received_at: float, requests: list[CloudRequest]) -> bool:
        """Record the id and the requests durably: False if an earlier run of this LMS handled it already."""
        if self._rows is None:
            return True
        try:
            return self._rows.admit(command_id, received_at, requests)
        except Exception:  # the command still runs: losing it would be worse than a rare second run
            log.exception("fanout: could not record command %s as handled", command_id)
            return True

    def _resume(self) -> None:
        """Ask again for what an earlier run of the LMS left unfinished (sent, or about to be, when it stopped)."""
        if self._rows is None:
            return
        try:
            left = self._rows.unfinished()
        except Exception:
            log.exception("fanout: could not read the unfinished cloud requests")
            return
        if left:
            log.info("fanout: %d cloud request(s) left unfinished by the last run: asked again", len(left))
        for request in left:
            log_hop("resumed", request.command_id, request.agent_id)
            self._attempts.begin(request)

    def _enqueue(self, request: CloudRequest) -> bool:
        """Put the request for an offline agent in the offline queue (``queued``); ``False``: send it now."""
        if self._offline_queue is None or self._registry is None:
            return False
        if self._registry.presence(request.agent_id) is not Presence.OFFLINE:
            return False
        try:
            params = validate_params(request.command, request.params).model_dump(mode="json", exclude_unset=True)
        except CommandError:
            return False  # the router refuses it at once, with the same error
        ttl_s = DEFAULT_QUEUE_TTL_S if request.expires_at is None else request.expires_at - time.time()
        try:
            row = self._offline_queue.enqueue(
                request.agent_id, request.command, params, timeout_s=request.timeout_s,
                ttl_s=max(ttl_s, 1.0), actor="cloud", command_id=request.command_id,
            )  # fmt: skip
        except Exception:
            log.exception("fanout: could not queue %s for %s", request.command_id, request.agent_id)
            return False
        self.stats.queued += 1
        log_hop("queued", request.command_id, request.agent_id, f" (agent offline; queue #{row['id']})")
        self._attempts.handed_to_queue(request)  # the offline queue has it now (durably): its row here goes
        if self._rows is not None:
            try:
                self._rows.remove([request.key])
            except Exception:
                log.exception("fanout: could not delete the request of %s handed to the queue", request.command_id)
        self._buffer.add(Report(request.command_id, request.agent_id, CommandStatus.QUEUED,
                                {CommandHop.RECEIVED: request.received_at, CommandHop.QUEUED: time.time()}))
        return True
