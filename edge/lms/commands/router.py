"""The command router: LMS -> agent commands and their correlated responses, over the site broker.

Built for latency (the budget is ~1 ms for HTTP -> agent -> HTTP on loopback): no polling, no sleeps, no
thread per command. :meth:`Router.dispatch` validates, publishes a ``Command`` on the agent's down topic and
returns a :class:`Ticket` whose future is resolved by the MQTT dispatcher thread when the agent's
``Response`` arrives (correlated by ``request_id``), or by the one deadline thread when it times out.

Failures never raise: they come back as a ``Response`` with ``success=False`` and an error code
(``unknown_agent``, ``agent_offline``, ``unknown_command``, ``invalid_params``, ``payload_too_large``,
``timeout``...). ``Ticket.delivered`` says whether the command reached the broker for the agent and
``Ticket.answered`` whether the agent itself answered. Every command is written to ``command_logs`` (off
the hot path).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import InvalidStateError
from contextlib import AbstractContextManager
from typing import Any

from edge.lms.agents import Registry
from edge.lms.commands.command_log import CommandLog, CommandLogEntry
from edge.lms.commands.deadlines import Deadlines
from edge.lms.commands.ticket import PreparedCommand, RouterStats, Ticket, Transport
from shared import topics
from shared.commands import CATALOGUE, get_spec, loggable_params, validate_params
from shared.errors import CommandError, ErrorCode, MqttError, SharedError
from shared.messages import MAX_PAYLOAD_BYTES, Command, Presence, Response, decode, encode
from shared.messages.command import MAX_TIMEOUT_S
from shared.mqtt import IncomingMessage, MqttClient
from shared.topics import AgentUp

log = logging.getLogger(__name__)

#: the ``source`` of the commands the LMS sends to relay a device shadow (the only source of ``shadow_only`` ones)
SHADOW_SOURCE = "shadow"
#: the ``source`` of the commands the LMS sends of its own accord (rotations; the only source of ``lms_only`` ones)
LMS_SOURCE = "lms"

#: The LMS waits this much longer than the command's own timeout, so that an agent's own ``timeout``
#: answer (which may carry partial output) wins over the LMS's.
TRANSPORT_GRACE_S = 0.5


class Router:
    """:meth:`attach` to the site MQTT client, :meth:`start`, then :meth:`dispatch` / :meth:`send`."""

    def __init__(
        self, client: MqttClient, registry: Registry, journal: CommandLog, *, default_timeout_s: float
    ) -> None:
        self._client = client
        self._registry = registry
        self._journal = journal
        self.default_timeout_s = default_timeout_s
        #: the site's ``exec_policy`` (``LmsConfig.exec_policy``; set live from the cloud configuration)
        self.exec_policy = "allow"
        self._pending: dict[str, Ticket] = {}
        self._deadlines = Deadlines(self._expire)
        self._prefix = f"l{secrets.token_hex(4)}-"
        self._seq = itertools.count(1)
        self._transports: dict[str, Transport] = {}
        #: agents that refused a ``Command`` with ``command_id`` (older than the field): sent without it
        self._without_command_id: set[str] = set()
        self.stats = RouterStats()
        #: told of an agent's answer that matches no pending request (e.g. one answered after the LMS gave up
        #: waiting; the fan-out still takes it for a cloud command): ``(agent_id, response)``, any thread, quick
        self.on_late: Callable[[str, Response], None] | None = None
        #: called ``(agent_id, success)`` after every command to an agent the registry knows ends (answered, failed or
        #: timed out); one for an id no agent has is no agent's failure (and its id may be no agent id at all)
        self.finish_listeners: list[Callable[[str, bool], None]] = []

    def add_transport(self, kind: str, transport: Transport) -> None:
        """Commands to agents of this registry ``kind`` go through ``transport`` instead of MQTT."""
        self._transports[kind] = transport

    # ------------------------------------------------------------ lifecycle

    def attach(self) -> None:
        self._client.subscribe(topics.all_agents_up_filter(AgentUp.RESPONSE), self._on_response, qos=1, inline=True)

    def start(self) -> None:
        self._deadlines.start()

    def stop(self) -> None:
        """Fail whatever is still pending (callers must not hang) and stop the deadline thread."""
        self._deadlines.stop()
        self.fail_pending("the LMS is shutting down")

    def fail_pending(self, reason: str, *, source: str | None = None) -> int:
        """End pending commands (of one ``source``, or all) with an ``internal`` failure. Returns how many."""
        count = 0
        for request_id, ticket in list(self._pending.items()):
            if source is not None and ticket.source != source:
                continue
            if self._pending.pop(request_id, None) is not None:
                self._finish(ticket, Response.fail(request_id, ErrorCode.INTERNAL, reason))
                count += 1
        return count

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def new_request_id(self) -> str:
        return f"{self._prefix}{next(self._seq)}"

    def pending(self, request_id: str) -> Ticket | None:
        """The ticket of a request still waiting for its agent's answer."""
        return self._pending.get(request_id)

    # ------------------------------------------------------------ sending

    def dispatch(
        self,
        agent_id: str,
        command: str,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        *,
        source: str = "api",
        request_id: str | None = None,
        command_id: str | None = None,
    ) -> Ticket:
        """Send one command without waiting. The ticket's future always resolves to a ``Response``.
        ``command_id``: the cloud's id of the command, carried to the agent in the ``Command``."""
        ticket = Ticket(request_id or self.new_request_id(), agent_id, command, dict(params or {}),
                        self._timeout(timeout_s), source, command_id=command_id)  # fmt: skip
        if self._transports:
            transport = self._transports.get(self._registry.kind(agent_id) or "")
            if transport is not None:
                return self._dispatch_via(transport, ticket)
        failure = self._check(ticket)
        if failure is not None:
            self.stats.rejected += 1
            self._finish(ticket, failure)
            return ticket
        self._publish(ticket)
        return ticket

    def _timeout(self, timeout_s: float | None) -> float:
        return min(float(timeout_s if timeout_s is not None else self.default_timeout_s), MAX_TIMEOUT_S)

    def prepare(
        self, command: str, params: dict[str, Any] | None = None, timeout_s: float | None = None, *, source: str = "api"
    ) -> PreparedCommand | None:
        """Check and encode a command once for many agents (a batch): ``None`` when it fails a check that does not
        depend on the agent, or cannot be spliced — then :meth:`dispatch` each agent, which gives each its answer."""
        params = dict(params or {})
        probe = Ticket(f"{self._prefix}0", "", command, params, self._timeout(timeout_s), source)  # seq starts at 1
        if command not in CATALOGUE or self._command_failure(probe) is not None:
            return None
        try:
            payload = encode(Command(request_id=probe.request_id, command=command, params=probe.params,
                                     timeout_s=probe.timeout_s))  # fmt: skip
        except (ValueError, TypeError):
            return None
        field = f'"request_id":"{probe.request_id}"'.encode()
        at = payload.find(field)  # the first: request_id is dumped before params
        if at < 0:
            return None
        cut = at + len(field) - len(probe.request_id) - 1
        return PreparedCommand(command, params, probe.params, probe.timeout_s, source, self.exec_policy, payload[:cut],
                               payload[cut + len(probe.request_id):])  # fmt: skip

    def dispatch_prepared(self, agent_id: str, prepared: PreparedCommand) -> Ticket:
        """:meth:`dispatch` of a command from :meth:`prepare`: the same checks of the agent, the same answers."""
        if (self._transports and self._registry.kind(agent_id) in self._transports) or (
            prepared.exec_policy != self.exec_policy
        ):
            return self.dispatch(agent_id, prepared.command, prepared.params, prepared.timeout_s,
                                 source=prepared.source)  # fmt: skip
        ticket = Ticket(self.new_request_id(), agent_id, prepared.command, dict(prepared.clean), prepared.timeout_s,
                        prepared.source)  # fmt: skip
        failure = self._check_presence(ticket)
        if failure is not None:
            self.stats.rejected += 1
            self._finish(ticket, failure)
            return ticket
        self._send(ticket, prepared.payload(ticket.request_id))
        return ticket

    def corked(self) -> AbstractContextManager[None]:
        """Commands dispatched in the block leave for the broker together when it ends (``MqttClient.corked``)."""
        return self._client.corked()

    def _publish(self, ticket: Ticket) -> None:
        """Send a checked ticket to its agent over MQTT (a failure ends it)."""
        rid = ticket.request_id
        command_id = None if ticket.agent_id in self._without_command_id else ticket.command_id
        try:
            payload = encode(Command(request_id=rid, command=ticket.command, params=ticket.params,
                                     timeout_s=ticket.timeout_s, command_id=command_id))
        except (ValueError, TypeError) as exc:  # e.g. a request id not matching the pattern
            self._finish(ticket, Response.fail(rid, ErrorCode.BAD_PAYLOAD, f"cannot build the command: {exc}"))
            return
        self._send(ticket, payload)

    def _send(self, ticket: Ticket, payload: bytes) -> None:
        rid = ticket.request_id
        if len(payload) > MAX_PAYLOAD_BYTES:
            failure = Response.fail(
                rid, ErrorCode.PAYLOAD_TOO_LARGE,
                f"command of {len(payload)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte message limit",
            )
            self._finish(ticket, failure)
            return
        self._pending[rid] = ticket
        self._deadlines.add(time.monotonic() + ticket.timeout_s + TRANSPORT_GRACE_S, rid)
        try:
            self._client.publish(topics.agent_down(ticket.agent_id), payload, qos=1)
        except MqttError as exc:
            if self._pending.pop(rid, None) is not None:
                self._finish(ticket, Response.fail(rid, ErrorCode.BUSY, f"could not send the command: {exc.message}"))
            return
        ticket.delivered = True
        self.stats.sent += 1

    def _refused_command_id(self, ticket: Ticket, response: Response) -> bool:
        """An agent older than ``Command.command_id`` refused it (``bad_payload`` naming the field; nothing ran):
        remember the agent and send the same request again, under a new request id, without the field."""
        if (
            response.error_code is not ErrorCode.BAD_PAYLOAD
            or ticket.command_id is None
            or ticket.agent_id in self._without_command_id
            or "command_id" not in (response.error or "")
        ):
            return False
        self._without_command_id.add(ticket.agent_id)
        log.warning("router: %s refuses command_id (an older agent): request_id=%s sent again without it "
                    "(command_id=%s)", ticket.agent_id, ticket.request_id, ticket.command_id,
                    extra={"command_id": ticket.command_id, "agent_id": ticket.agent_id})  # fmt: skip
        ticket.request_id = self.new_request_id()
        self._publish(ticket)
        return True

    def _dispatch_via(self, transport: Transport, ticket: Ticket) -> Ticket:
        rid = ticket.request_id
        failure = transport.validate(ticket) or self._check_presence(ticket)
        if failure is not None:
            self.stats.rejected += 1
            self._finish(ticket, failure)
            return ticket
        self._pending[rid] = ticket
        self._deadlines.add(time.monotonic() + ticket.timeout_s + TRANSPORT_GRACE_S, rid)
        why = transport.send(ticket)
        if why is not None:
            if self._pending.pop(rid, None) is not None:
                self._finish(ticket, Response.fail(rid, ErrorCode.AGENT_OFFLINE, why))
            return ticket
        ticket.delivered = True
        self.stats.sent += 1
        return ticket

    def _check(self, ticket: Ticket) -> Response | None:
        """Validate before sending: the command and its params, then the agent. ``None`` when fine."""
        return self._command_failure(ticket) or self._check_presence(ticket)

    def _command_failure(self, ticket: Ticket) -> Response | None:
        """The checks of :meth:`_check` before the agent's presence (``ticket.params`` normalised when they pass)."""
        rid = ticket.request_id
        if ticket.command == "exec" and (self.exec_policy == "disabled" or
                                         (self.exec_policy == "local_only" and ticket.source == "cloud")):
            return Response.fail(rid, ErrorCode.REJECTED_BY_POLICY,
                                 f"exec is refused at this site (exec_policy = {self.exec_policy})")
        if ticket.command not in CATALOGUE:  # none of an agent's; another kind's (a ClassTop client's camera_*)?
            unknown = self._check_presence(ticket)  # for an agent nobody knows, that is the answer
            if unknown is not None and unknown.error_code is ErrorCode.UNKNOWN_AGENT:
                return unknown
        try:
            model = validate_params(ticket.command, ticket.params)
        except CommandError as exc:
            return Response.fail(rid, exc.code, exc.message)
        if get_spec(ticket.command).lms_only and ticket.source != LMS_SOURCE:
            return Response.fail(rid, ErrorCode.FORBIDDEN, f"{ticket.command} is sent only by the LMS itself (its "
                                 "rotation steps: docs/operations.md), never on a caller's behalf")
        if get_spec(ticket.command).shadow_only and ticket.source != SHADOW_SOURCE:
            return Response.fail(rid, ErrorCode.FORBIDDEN, f"{ticket.command} is sent only from the agent's device "
                                 "shadow (set cameras in the cloud API, or on site with cctv_add_camera)")
        ticket.params = model.model_dump(mode="json", exclude_unset=True)
        return None

    def _check_presence(self, ticket: Ticket) -> Response | None:
        rid = ticket.request_id
        presence = self._registry.presence(ticket.agent_id) if topics.is_valid_id(ticket.agent_id) else None
        if presence is None:
            return Response.fail(rid, ErrorCode.UNKNOWN_AGENT, f"unknown agent {ticket.agent_id!r}")
        if presence is Presence.OFFLINE:
            return Response.fail(rid, ErrorCode.AGENT_OFFLINE, f"agent {ticket.agent_id!r} is offline")
        return None

    def send(
        self, agent_id: str, command: str, params: dict[str, Any] | None = None, timeout_s: float | None = None,
        *, source: str = "api",
    ) -> Response:
        """Send and wait for the outcome (blocking; for threads, not for the event loop)."""
        return self.dispatch(agent_id, command, params, timeout_s, source=source).result()

    async def send_async(
        self, agent_id: str, command: str, params: dict[str, Any] | None = None, timeout_s: float | None = None,
        *, source: str = "api",
    ) -> Response:
        """Send and await the outcome without blocking the event loop."""
        return await self.dispatch(agent_id, command, params, timeout_s, source=source).wait()

    # ------------------------------------------------------------ completion

    def _on_response(self, msg: IncomingMessage) -> None:
        """A ``Response`` from an agent (inline on the MQTT network thread: quick, never blocks)."""
        try:
            agent_id = topics.parse(msg.topic).agent_id
            response = decode(Response, msg.payload)
        except SharedError as exc:
            self.stats.bad_responses += 1
            log.warning("router: dropped response on %s: %s", msg.topic, exc)
            return
        assert agent_id is not None
        self._registry.touch(agent_id)
        self.complete(agent_id, response)

    def complete(self, agent_id: str, response: Response) -> bool:
        """An agent's answer (from any transport): end its pending command. Returns whether it matched one."""
        ticket = self._pending.get(response.request_id)
        if ticket is None:
            self.stats.late_responses += 1
            log.info("router: response %s from %s matches no pending command", response.request_id, agent_id)
            if self.on_late is not None:
                self.on_late(agent_id, response)
            return False
        if ticket.agent_id != agent_id:
            self.stats.bad_responses += 1
            log.warning("router: %s answered %s, which was sent to %s", agent_id, response.request_id, ticket.agent_id)
            return False
        if self._pending.pop(response.request_id, None) is None:
            return False  # the deadline won the race
        if self._refused_command_id(ticket, response):
            return True
        ticket.answered = True
        self.stats.answered += 1
        self._finish(ticket, response)
        return True

    def fail_agent(self, agent_id: str, code: ErrorCode, reason: str) -> int:
        """End every pending command of one agent (e.g. its connection closed). Returns how many."""
        count = 0
        for request_id, ticket in list(self._pending.items()):
            if ticket.agent_id == agent_id and self._pending.pop(request_id, None) is not None:
                self._finish(ticket, Response.fail(request_id, code, reason))
                count += 1
        return count

    def _expire(self, request_id: str) -> None:
        ticket = self._pending.pop(request_id, None)
        if ticket is None:
            return
        self.stats.timed_out += 1
        self._finish(
            ticket,
            Response.fail(
                request_id, ErrorCode.TIMEOUT, f"no response from {ticket.agent_id} within {ticket.timeout_s:g} s"
            ),
        )

    def _finish(self, ticket: Ticket, response: Response) -> None:
        if not ticket.future.done():
            with contextlib.suppress(InvalidStateError):  # cancelled by an awaiting caller that went away
                ticket.future.set_result(response)
        try:
            self._journal.append(
                CommandLogEntry(
                    agent_id=ticket.agent_id, command=ticket.command,
                    params=loggable_params(ticket.command, ticket.params),
                    request_id=ticket.request_id, status=response.status.value, success=response.success,
                    response=response.data if response.success else {"error": response.error},
                    error_code=response.error_code.value if response.error_code else None, source=ticket.source,
                    duration_ms=(time.perf_counter() - ticket.started) * 1000.0, executed_at=time.time(),
                )
            )
        except Exception:
            log.exception("router: could not log command %s", ticket.request_id)
        if self._registry.presence(ticket.agent_id) is None:
            return
        for listener in list(self.finish_listeners):
            try:
                listener(ticket.agent_id, response.success)
            except Exception:
                log.exception("router: a finish listener failed on %s", ticket.request_id)
