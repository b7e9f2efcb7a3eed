"""The attempts of the cloud's requests, from the first send to the end (docs/architecture.md#delivery-of-commands-
and-results): paced by each agent's command slots (:class:`~edge.lms.commands.cloud_requests.Pacer`), sent under a
new request id each time, asked again after ``busy`` and after an unanswered ``timeout`` until the delivery window
ends, ended by the agent's answer — also a late one — and reported through the fan-out's result buffer.

The fan-out's worker thread calls everything but :meth:`Attempts.done` and :meth:`Attempts.late` (any thread: they
post to the worker).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from edge.lms.commands.cloud_requests import CloudRequest, Pacer, RequestIds
from edge.lms.commands.result_buffer import MAX_RESULTS_PER_MESSAGE, Report, ResultBuffer
from edge.lms.commands.result_writer import ResultWriter
from edge.lms.commands.router import Router
from edge.lms.commands.ticket import Ticket
from shared.errors import ErrorCode
from shared.messages import CommandStatus, Response
from shared.messages.command import CommandHop

log = logging.getLogger("edge.lms.commands.fanout")

#: asked again (unanswered attempts, may not have reached the agent): never a terminal ``busy`` / ``timeout``
_ASK_AGAIN = frozenset({ErrorCode.BUSY, ErrorCode.TIMEOUT})


@dataclass(frozen=True, slots=True)
class Outcome:
    """An attempt of a request ended (answered by the agent, or ended by the router)."""

    request: CloudRequest
    ticket: Ticket
    response: Response


@dataclass(frozen=True, slots=True)
class Late:
    """An agent's answer to a request the router no longer waited for."""

    agent_id: str
    response: Response


def log_hop(hop: str, command_id: str, agent_id: str, detail: str = "") -> None:
    log.info("fanout: %s command_id=%s agent_id=%s%s", hop, command_id, agent_id, detail,
             extra={"command_id": command_id, "agent_id": agent_id})


def terminal_report(command_id: str, ticket: Ticket, response: Response) -> Report:
    hops = {CommandHop.FINISHED: time.time()} if ticket.answered else {}
    log_hop("finished", command_id, ticket.agent_id, f" request_id={ticket.request_id} status={response.status.value}")
    return Report(command_id, ticket.agent_id, response.status, hops, response=response)


class Attempts:
    def __init__(
        self, router: Router, buffer: ResultBuffer, writer: ResultWriter, requests: RequestIds, *, concurrency: int,
        post: Callable[[object], None], flush: Callable[[], None], stopping: threading.Event,
        enqueue: Callable[[CloudRequest], bool], lookup: Callable[[str], tuple[str, str] | None],
    ) -> None:  # fmt: skip
        self._router = router
        self._buffer = buffer
        self._writer = writer
        self._requests = requests
        self._post = post
        self._flush = flush
        self._stopping = stopping
        self._enqueue = enqueue
        self._lookup = lookup
        self.pacer = Pacer(concurrency)
        #: the requests not ended yet, by (command id, agent)
        self.open: dict[tuple[str, str], CloudRequest] = {}

    def begin(self, request: CloudRequest) -> None:
        """A new (or resumed) request: to the offline queue if its agent is offline, else offered for sending."""
        if request.key in self.open:
            return
        self.open[request.key] = request
        if not self._enqueue(request):
            self.offer(request)

    def handed_to_queue(self, request: CloudRequest) -> None:
        """The offline queue has the request now (durably): it is no longer this LMS's to send."""
        request.done = True
        self.open.pop(request.key, None)

    def due(self) -> None:
        for request in self.pacer.due():
            self.offer(request)

    def offer(self, request: CloudRequest) -> None:
        if request.done or self._stopping.is_set():
            return
        if self.pacer.offer(request):
            self._send(request)

    def _send(self, request: CloudRequest) -> None:
        """One attempt (counted in flight by the pacer), under a new request id."""
        command_id, agent_id = request.key
        request_id = self._router.new_request_id()
        request.request_id = request_id
        request.attempts += 1
        self._requests.add(request_id, command_id, agent_id)
        ticket = self._router.dispatch(
            agent_id, request.command, request.params, request.timeout_s, source="cloud", request_id=request_id,
            command_id=command_id,
        )  # fmt: skip
        request.ticket = ticket
        hops = {CommandHop.RECEIVED: request.received_at}
        if ticket.delivered:
            hops[CommandHop.DELIVERED] = time.time()
            log_hop("delivered", command_id, agent_id, f" request_id={request_id} attempt={request.attempts}")
            self._buffer.add(Report(command_id, agent_id, CommandStatus.DELIVERED, hops))
        else:
            self._buffer.note(command_id, agent_id, hops)  # its terminal result follows at once
        if len(self._buffer) >= MAX_RESULTS_PER_MESSAGE:
            self._flush()
        ticket.future.add_done_callback(functools.partial(self.done, request, ticket))

    def on_outcome(self, outcome: Outcome) -> None:
        request, ticket, response = outcome.request, outcome.ticket, outcome.response
        for ready in self.pacer.release(request.agent_id):
            self._send(ready)
        if request.done or request.ticket is not ticket:
            return  # ended already (a late answer of an earlier attempt)
        request.ticket = None
        if self._stopping.is_set() and not ticket.answered:
            return  # the LMS is stopping: the row stays, the next start asks again
        code = response.error_code
        if code is ErrorCode.BUSY and ticket.answered and isinstance(response.data, dict):
            self.pacer.learn(request.agent_id, response.data.get("slots"))
        again = code is ErrorCode.BUSY or (code in _ASK_AGAIN and not ticket.answered)
        if code is ErrorCode.AGENT_OFFLINE and not ticket.answered and self._enqueue(request):
            return
        if again and time.time() < request.ask_until:
            delay = request.backoff_s()
            log_hop("asked again", request.command_id, request.agent_id,
                    f" in {delay:g} s after {code.value if code else '?'} (attempt {request.attempts})")
            self.pacer.later(request, delay)
            return
        if code is ErrorCode.BUSY:  # never ran: the delivery window ended while the agent stayed busy
            self.end(request, Report(request.command_id, request.agent_id, CommandStatus.EXPIRED,
                                     error="expired: the agent stayed busy", error_code=ErrorCode.TIMEOUT))
            return
        self.end(request, terminal_report(request.command_id, ticket, response))

    def on_late(self, late: Late) -> None:
        found = self._lookup(late.response.request_id)
        if found is None or found[1] != late.agent_id or late.response.error_code is ErrorCode.BUSY:
            return
        request = self.open.get(found)
        if request is None or request.done:
            return
        log_hop("finished", request.command_id, request.agent_id,
                f" request_id={late.response.request_id} (a late answer) status={late.response.status.value}")
        self.end(request, Report(request.command_id, request.agent_id, late.response.status,
                                 {CommandHop.FINISHED: time.time()}, response=late.response))

    def end(self, request: CloudRequest, report: Report) -> None:
        request.done = True
        self.open.pop(request.key, None)
        self._buffer.add(report)
        self._writer.ended(request.key)
        if len(self._buffer) >= MAX_RESULTS_PER_MESSAGE:
            self._flush()

    def done(self, request: CloudRequest, ticket: Ticket, fut: Future[Response]) -> None:
        """Completion callback (any thread): hand the attempt's outcome to the worker."""
        if fut.cancelled():
            response = Response.fail(ticket.request_id, ErrorCode.INTERNAL, "cancelled")
        else:
            response = fut.result()
        self._post(Outcome(request, ticket, response))

    def late(self, agent_id: str, response: Response) -> None:
        """The router's late answers (any thread): to the worker."""
        self._post(Late(agent_id, response))
