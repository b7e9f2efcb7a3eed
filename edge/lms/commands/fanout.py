"""Cloud batch commands: one ``SiteCommand`` from IoT Core fans out to its target agents through the router.

For each target the LMS reports, on ``site_up(namespace, site, RESULTS)`` through the durable outbox:

1. ``delivered`` once the command is handed to the site broker for the agent (not for targets that fail
   before sending: unknown, offline...), then
2. the terminal status (succeeded / failed / timed_out / rejected / expired) with data or error.

Ordering: one worker thread does everything that writes results, and it writes a command's ``delivered``
rows before it looks at any completion, so a terminal status is never queued before its ``delivered``.
Concurrency is bounded by a semaphore released from the completion callbacks (no thread per command).
Completions that arrive together are written as one outbox row (up to 500 results).

Bad messages from the cloud are logged, counted and dropped; a repeated ``request_id`` (QoS 1 redelivery)
is ignored — also across an LMS restart: handled ids are recorded in SQLite (``cloud_commands``, kept
:data:`DEDUPE_DAYS` days) before the command is sent, so a command is run at most once per site.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from edge.lms.auth import Audit
from edge.lms.commands.cloud_command_ids import CloudCommandIds
from edge.lms.commands.command_service import audit_params, audited
from edge.lms.commands.router import Router, Ticket
from edge.lms.store import Store
from shared import topics
from shared.errors import ErrorCode, SharedError
from shared.messages import AgentResult, CommandResults, CommandStatus, Response, SiteCommand, decode
from shared.names import Namespace
from shared.topics import SiteUp
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: A single result bigger than this has its ``data`` replaced by a note (IoT Core's limit is 128 KB).
MAX_RESULT_BYTES = 64 * 1024
MAX_RESULTS_PER_MESSAGE = 500
_DEDUPE = 10_000
#: How long handled cloud command ids are remembered (IoT Core keeps a session's messages for at most days).
DEDUPE_DAYS = 7.0
_PRUNE_EVERY = 1000  # commands between prunes of old ids


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


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes


_STOP = object()


def _result(request_id: str, agent_id: str, response: Response) -> AgentResult:
    result = AgentResult(
        request_id=request_id, agent_id=agent_id, status=response.status, success=response.success,
        data=response.data, error=response.error, error_code=response.error_code, timestamp=time.time(),
    )
    size = len(json.dumps(response.data, default=str)) if response.data is not None else 0
    if size > MAX_RESULT_BYTES:
        result = result.model_copy(
            update={"data": {"truncated": True, "bytes": size, "note": "result too large for the cloud link"}}
        )
    return result


class Fanout:
    """:meth:`handle` is the cloud link's handler for ``site_down``; :meth:`start` the worker."""

    def __init__(
        self, router: Router, outbox: ResultsOutbox, *, namespace: Namespace, site_id: str, concurrency: int = 256,
        audit: Audit | None = None, store: Store | None = None,
    ) -> None:  # fmt: skip
        self._router = router
        self._ids = CloudCommandIds(store) if store is not None else None
        self._audit = audit
        self._outbox = outbox
        self._results_topic = topics.site_up(namespace, site_id, SiteUp.RESULTS)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._queue: queue.Queue[object] = queue.Queue()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._worker = WorkerThread("lms-fanout", self._run, wake=lambda: self._queue.put(_STOP))
        self.stats = FanoutStats()

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
        self._queue.put(_Incoming(topic, payload))

    # ------------------------------------------------------------ worker

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            results: list[AgentResult] = []
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Incoming):
                    self._flush(results)
                    self._on_command(item)
                elif isinstance(item, AgentResult):
                    results.append(item)
                    if len(results) >= MAX_RESULTS_PER_MESSAGE:
                        self._flush(results)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._flush(results)
            if stop:
                return

    def _flush(self, results: list[AgentResult]) -> None:
        """Write ``results`` (in order) to the outbox in as few messages as fit; empty the list."""
        pending = list(results)
        results.clear()
        for i in range(0, len(pending), MAX_RESULTS_PER_MESSAGE):
            self._put(pending[i : i + MAX_RESULTS_PER_MESSAGE])

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
        if command.request_id in self._seen or not self._remember(command.request_id):
            self.stats.duplicates += 1
            log.info("fanout: command %s already handled; ignored", command.request_id)
            return
        self._seen[command.request_id] = None
        while len(self._seen) > _DEDUPE:
            self._seen.popitem(last=False)
        self.stats.commands += 1
        if self.stats.commands % _PRUNE_EVERY == 0:
            self._prune()
        targets = list(dict.fromkeys(command.targets))
        log.info("fanout: %s %s -> %d agent(s)", command.request_id, command.command, len(targets))
        if command.expires_at is not None and command.expires_at < time.time():
            self.stats.expired += 1
            self._flush([self._expired(command, a) for a in targets])
            return
        if self._audit is not None and audited(command.command):
            try:
                self._audit.record(
                    "cloud", None, f"cloud:{command.command}", ",".join(targets)[:512], "sent",
                    {"request_id": command.request_id, "params": audit_params(command.params)},
                )  # fmt: skip
            except Exception:
                log.exception("fanout: could not audit %s", command.request_id)
        delivered: list[AgentResult] = []
        for agent_id in targets:
            if not self._acquire():
                return
            ticket = self._router.dispatch(
                agent_id, command.command, command.params, command.timeout_s, source="cloud"
            )
            if ticket.delivered:
                delivered.append(self._delivered(command.request_id, agent_id))
                if len(delivered) >= MAX_RESULTS_PER_MESSAGE:
                    self._flush(delivered)
            ticket.future.add_done_callback(functools.partial(self._done, command.request_id, ticket))
        self._flush(delivered)

    def _acquire(self) -> bool:
        while not self._slots.acquire(timeout=0.5):
            if self._worker.stopping.is_set():
                return False
        return True

    def _done(self, request_id: str, ticket: Ticket, fut: Future[Response]) -> None:
        """Completion callback (any thread): hand the terminal result to the worker, free the slot."""
        try:
            if fut.cancelled():
                response = Response.fail(ticket.request_id, ErrorCode.INTERNAL, "cancelled")
            else:
                response = fut.result()
            self._queue.put(_result(request_id, ticket.agent_id, response))
        finally:
            self._slots.release()

    @staticmethod
    def _delivered(request_id: str, agent_id: str) -> AgentResult:
        return AgentResult(
            request_id=request_id, agent_id=agent_id, status=CommandStatus.DELIVERED, timestamp=time.time()
        )

    @staticmethod
    def _expired(command: SiteCommand, agent_id: str) -> AgentResult:
        return AgentResult(
            request_id=command.request_id, agent_id=agent_id, status=CommandStatus.EXPIRED, success=False,
            error="expired before delivery", error_code=ErrorCode.TIMEOUT, timestamp=time.time(),
        )
