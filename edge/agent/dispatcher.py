"""Command in, response out: ``ct/agent/<id>/down/command`` -> handler -> ``ct/agent/<id>/up/response``.

Rules, in order:

1. A payload that is not a valid ``Command`` (checked by its msgspec mirror, ``shared.messages.structs``) is
   answered a failed ``Response`` (``bad_payload`` / ``payload_too_large``) when a usable ``request_id`` can be
   read from it; otherwise (``bad_json`` included) it is logged and dropped.
   Retained messages are ignored: a command left retained by mistake would otherwise run at every start.
2. A ``request_id`` seen recently is not run again (QoS 1 may redeliver): its stored response is replayed,
   or, if it is still running, the duplicate is ignored (its response will follow). The memory is a bounded
   LRU of :data:`RECENT_REQUESTS` ids. A command with the cloud's ``command_id`` is also looked up, by that id,
   in the durable :class:`~edge.agent.command_journal.CommandJournal`, across restarts of the agent: the LMS
   asks again (under a new request id) when it cannot know whether a request or its answer was lost, and
   the agent answers from the journal instead of running the command twice.
3. Params are checked with :func:`shared.commands.validate_params` (``unknown_command`` / ``invalid_params``).
4. The handler runs (fast ones inline, ``exec`` on the worker pool). Whatever it raises becomes a failed
   response; nothing a handler does can stop the agent.

A command from the cloud carries the cloud's ``command_id``: the agent logs it when the command arrives and when
it is answered (``command_id=`` in the line, and as the record's ``command_id`` attribute for a structured
formatter), and reports ``running`` (a ``command.state`` event, the cloud's ``started`` hop) as its handler
starts — ``exec`` reports its own ``queued`` / ``running`` from the worker pool. Such commands are never handled
on the network thread (the event goes through the durable outbox).

Quick reads (:data:`QUICK_COMMANDS`: memory only, no disk, no subprocess) are handled on the MQTT network
thread itself (:meth:`Dispatcher.quick` is the subscription's ``inline`` predicate), which saves a thread
hand-off each way on the on-site round trip; everything else runs on the client's dispatcher thread.

Every response is published at QoS 1 and fits the 128 KB message limit (exec output is trimmed further,
with its ``*_truncated`` flag set, if needed).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Protocol

import msgspec

from edge.agent.command_journal import CommandJournal
from edge.agent.commands import Handler
from edge.agent.uplink import Uplink
from shared.errors import ErrorCode, MessageError, SharedError, TopicError
from shared.messages.checks import MAX_PAYLOAD_BYTES, REQUEST_ID_PATTERN
from shared.messages.enums import CommandStatus
from shared.messages.structs import Command, Response, decode, encode, response_fail, response_ok
from shared.mqtt import IncomingMessage
from shared.topics import AgentDown, AgentUp, parse

log = logging.getLogger(__name__)

RECENT_REQUESTS = 2048
#: How long an answered request id is remembered (seconds).
RECENT_AGE_S = 600.0
#: Commands answered from memory: handled inline on the network thread (see the module docstring).
QUICK_COMMANDS = frozenset({"ping", "get_all_settings", "get_setting", "get_courses", "get_schedule"})
_QUICK_MAX_BYTES = 4096
_REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)
_SIZE_MARGIN = 1024
#: Commands whose handler reports its own progress (``queued`` / ``running`` from the worker pool).
SELF_REPORTING = frozenset({"exec"})


class ReportState(Protocol):
    """Publishes a command's progress (``command.state``); ``at``: when it happened (default: now)."""

    def __call__(self, command: Command, status: CommandStatus, at: float | None = None, /) -> None: ...


class RecentRequests:
    """A bounded LRU of request ids -> their response (or "still running"): at most ``size`` of them, and an answered
    one for ``max_age_s`` (a repeat comes within a reconnect, seconds; kept longer, a small site's 2,048 answers
    took a day to fill and held megabytes: the soak measured it as a leak, ``bench/soak.py``)."""

    def __init__(self, size: int = RECENT_REQUESTS, max_age_s: float = RECENT_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.size = size
        self.max_age_s = max_age_s
        self._clock = clock
        #: request id -> (its response, None while it runs; when it was last touched)
        self._items: OrderedDict[str, tuple[Response | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def begin(self, request_id: str) -> Response | bool:
        """True if new (now marked running); False if still running; else the stored response to replay."""
        with self._lock:
            now = self._clock()
            self._trim(now)
            if request_id not in self._items:
                self._items[request_id] = (None, now)
                self._trim(now)
                return True
            prior = self._items[request_id][0]
            self._items[request_id] = (prior, now)
            self._items.move_to_end(request_id)
            return False if prior is None else prior

    def finish(self, request_id: str, response: Response) -> None:
        with self._lock:
            now = self._clock()
            self._items[request_id] = (response, now)
            self._items.move_to_end(request_id)
            self._trim(now)

    def _trim(self, now: float) -> None:
        items = self._items
        while len(items) > self.size:
            items.popitem(last=False)
        for _ in range(len(items)):  # the least recently touched first; a running one is kept (its answer follows)
            request_id, (response, at) = next(iter(items.items()))
            if at >= now - self.max_age_s:
                return
            if response is None:
                items.move_to_end(request_id)
            else:
                items.popitem(last=False)


def request_id_of(payload: bytes) -> str | None:
    """The ``request_id`` of a payload that is JSON but not a valid command, if it is a usable one."""
    try:
        data = json.loads(payload[:MAX_PAYLOAD_BYTES])
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested ~1,000 levels deep
        return None
    rid = data.get("request_id") if isinstance(data, dict) else None
    return rid if isinstance(rid, str) and _REQUEST_ID_RE.fullmatch(rid) else None  # fullmatch: not "abc\n"


def fit(response: Response, limit: int = MAX_PAYLOAD_BYTES) -> bytes:
    """Encode ``response`` within ``limit`` bytes, trimming exec output (and flagging it) if needed."""
    payload = encode(response)
    data = response.data
    for _ in range(8):
        if len(payload) <= limit:
            return payload
        if not (
            isinstance(data, dict)
            and isinstance(data.get("stdout"), str)
            and isinstance(data.get("stderr"), str)
        ):
            break
        over = len(payload) - limit + _SIZE_MARGIN
        sizes = {name: _json_size(data[name]) for name in ("stdout", "stderr")}
        stream = max(sizes, key=lambda name: sizes[name])
        text = data[stream]
        keep = int(len(text) * max(0, sizes[stream] - over) / max(1, sizes[stream]))  # escapes cost > 1 byte
        data = {**data, stream: text[:keep], f"{stream}_truncated": True}
        response = msgspec.structs.replace(response, data=data)
        payload = encode(response)
    if len(payload) <= limit:
        return payload
    log.error("response to %s is %d bytes: replaced by an error", response.request_id, len(payload))
    return encode(
        response_fail(
            response.request_id,
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"the response of {len(payload)} bytes exceeds the {limit}-byte message limit",
        )
    )


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


class Dispatcher:
    """The MQTT handler for the agent's command topic."""

    def __init__(
        self, uplink: Uplink, handlers: Mapping[str, Handler], recent: RecentRequests | None = None,
        report_state: ReportState | None = None,
        journal: CommandJournal | None = None,
    ) -> None:  # fmt: skip
        self.uplink = uplink
        self.journal = journal
        self.handlers = dict(handlers)
        self.recent = recent or RecentRequests()
        self.report_state = report_state
        self.handled = 0

    def __call__(self, message: IncomingMessage) -> None:
        try:
            channel = parse(message.topic).channel
        except TopicError:
            channel = None
        if channel != AgentDown.COMMAND.value:
            log.warning("ignored message on unexpected topic %s", message.topic)
            return
        if message.retain:
            log.warning("ignored a retained command on %s (commands must not be retained)", message.topic)
            return
        self.handle(message.payload)

    @staticmethod
    def quick(message: IncomingMessage) -> bool:
        """Whether ``message`` is a small command of :data:`QUICK_COMMANDS` (the ``inline`` predicate)."""
        if len(message.payload) > _QUICK_MAX_BYTES or message.retain:
            return False
        try:
            data = json.loads(message.payload)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nested ~1,000 levels: not a quick one
            return False
        if not isinstance(data, dict) or not isinstance(command := data.get("command"), str):
            return False  # a command name that is not a string (a dict is not even hashable): not a quick one
        return command in QUICK_COMMANDS and data.get("command_id") is None

    def handle(self, payload: bytes) -> None:
        self.handled += 1
        try:
            command = decode(Command, payload)
        except MessageError as exc:
            rid = request_id_of(payload)
            if rid is None:
                log.warning("dropped an invalid command without a usable request_id: %s", exc.message)
                return
            if self._is_new(rid):
                self._reply(response_fail(rid, exc.code, exc.message))
            return
        if self._is_new(command.request_id) and self._is_new_command(command):
            self._run(command)

    def _is_new_command(self, command: Command) -> bool:
        """The journal's word on a cloud command (see the module docstring); True without a journal or id."""
        if self.journal is None or command.command_id is None:
            return True
        state = self.journal.begin(command.command_id, command.request_id)
        if state is True:
            return True
        if state is False:
            log.info("command_id=%s (request_id=%s) is still running: the repeated request is ignored",
                     command.command_id, command.request_id, extra={"command_id": command.command_id})
        else:
            assert isinstance(state, Response)
            log.info("command_id=%s ran before: its answer is sent again for request_id=%s", command.command_id,
                     command.request_id, extra={"command_id": command.command_id})
            started = self.journal.started_at(command.command_id)
            if started is not None:  # the LMS asking again may have lost the first report (killed before passing it on)
                self._report(command, CommandStatus.RUNNING, at=started)
            self.recent.finish(state.request_id, state)
            self._publish(state)
        return False

    def _is_new(self, request_id: str) -> bool:
        state = self.recent.begin(request_id)
        if state is True:
            return True
        if state is False:
            log.info("duplicate request_id=%s still running: ignored", request_id)
        else:
            assert isinstance(state, Response)
            log.info("duplicate request_id=%s: replaying its response", request_id)
            self._publish(state)
        return False

    def _run(self, command: Command) -> None:
        started = time.monotonic()
        if command.command_id is not None:
            log.info("command %s request_id=%s command_id=%s received", command.command, command.request_id,
                     command.command_id, extra={"command_id": command.command_id})
        try:
            from shared.commands import validate_params  # the first command loads pydantic (footprint.py)

            params = validate_params(command.command, command.params)
            handler = self.handlers.get(command.command)
            if handler is None:
                raise SharedError(
                    f"{command.command} is not implemented on this agent", code=ErrorCode.NOT_SUPPORTED
                )
            if command.command_id is not None and command.command not in SELF_REPORTING:
                self._report(command, CommandStatus.RUNNING)
            outcome = handler(command, params)
        except Exception as exc:
            self._reply(_failure(command, exc), started, command)
            return
        if isinstance(outcome, Future):
            outcome.add_done_callback(lambda fut: self._finish_future(command, fut, started))
        else:
            self._reply(_answer(command, outcome), started, command)

    def _report(self, command: Command, status: CommandStatus, *, at: float | None = None) -> None:
        if self.report_state is None:
            return
        try:
            if at is None:
                self.report_state(command, status)
            else:
                self.report_state(command, status, at)
        except Exception:  # progress is informative: never let it stop the command
            log.exception("could not report %s of request_id=%s", status.value, command.request_id)

    def _finish_future(self, command: Command, fut: Future[Any], started: float) -> None:
        if fut.cancelled():
            response = response_fail(command.request_id, ErrorCode.BUSY, "cancelled: the agent is stopping")
        else:
            exc = fut.exception()
            response = (
                _failure(command, exc) if exc is not None else _answer(command, fut.result())
            )
        self._reply(response, started, command)

    def _reply(self, response: Response, started: float | None = None, command: Command | None = None) -> None:
        self.recent.finish(response.request_id, response)
        if self.journal is not None and command is not None and command.command_id is not None:
            self.journal.answer(command.command_id, response)
        if started is not None:
            command_id = command.command_id if command is not None else None
            log.log(
                logging.INFO if response.success else logging.WARNING,
                "command %s request_id=%s%s %s in %.1f ms%s",
                command.command if command is not None else "?",
                response.request_id,
                f" command_id={command_id}" if command_id is not None else "",
                "ok" if response.success else "failed",
                (time.monotonic() - started) * 1000,
                "" if response.success else f" ({response.error_code}: {response.error})",
                extra={"command_id": command_id},
            )
        self._publish(response)

    def _publish(self, response: Response) -> None:
        try:
            self.uplink.publish(AgentUp.RESPONSE, fit(response))
        except Exception:
            log.exception("could not publish the response to %s", response.request_id)


def _answer(command: Command, data: Any) -> Response:
    """The successful answer, or a failed one saying why when ``data`` breaks the message limits (nested too deep,
    NaN or infinite numbers, integers beyond 64 bits: docs/protocol.md#intake-limits)."""
    try:
        return response_ok(command.request_id, data)
    except msgspec.ValidationError as exc:
        return response_fail(
            command.request_id, ErrorCode.INTERNAL, f"the command ran but its answer cannot be sent: {exc}"
        )


def _failure(command: Command, exc: BaseException) -> Response:
    if isinstance(exc, SharedError):
        return response_fail(command.request_id, exc.code, exc.message, getattr(exc, "data", None))
    log.error("command %s request_id=%s crashed", command.command, command.request_id, exc_info=exc)
    return response_fail(
        command.request_id, ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"
    )
