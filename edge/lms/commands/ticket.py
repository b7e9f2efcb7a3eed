"""What the router hands around: a :class:`Ticket` (one command to one agent, in flight or done), a
:class:`PreparedCommand` (one command checked and encoded once for many agents), the :class:`Transport` of agents
that are not MQTT agents, the router's counters, and the reply body every command-backed answer shares."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.messages import Response


@dataclass(eq=False)
class Ticket:
    """One command to one agent, in flight or done."""

    request_id: str
    agent_id: str
    command: str
    params: dict[str, Any]
    timeout_s: float
    source: str
    future: Future[Response] = field(default_factory=Future)
    started: float = field(default_factory=time.perf_counter)
    delivered: bool = False
    answered: bool = False
    #: the cloud's id of the command this request is part of (``None`` for the site's own commands)
    command_id: str | None = None

    def result(self, timeout_s: float | None = None) -> Response:
        return self.future.result(timeout_s)

    async def wait(self) -> Response:
        """Await the response from asyncio code (e.g. a FastAPI handler)."""
        return await asyncio.wrap_future(self.future)


def response_fields(response: Response) -> dict[str, Any]:
    """A command's outcome as the API and the offline queue show it (after ``success`` and ``request_id``)."""
    return {
        "status": response.status.value,
        "data": response.data,
        "error": response.error,
        "error_code": response.error_code.value if response.error_code else None,
    }


def result_dict(request_id: str, response: Response) -> dict[str, Any]:
    """``{success, request_id, status, data, error, error_code}``: the body of every command-backed reply."""
    return {"success": response.success, "request_id": request_id, **response_fields(response)}


@dataclass(frozen=True, slots=True)
class PreparedCommand:
    """One command checked and encoded once for many agents (:meth:`Router.prepare`): each agent's ``Command`` is
    ``head + request_id + tail`` (the request id is the only field that differs)."""

    command: str
    #: the params as the caller gave them (for a fallback to :meth:`Router.dispatch`) and as checked
    params: dict[str, Any]
    clean: dict[str, Any]
    timeout_s: float
    source: str
    #: the site's ``exec_policy`` it was checked against (a change since: the agents left are checked anew)
    exec_policy: str
    head: bytes
    tail: bytes

    def payload(self, request_id: str) -> bytes:
        return b"".join((self.head, request_id.encode(), self.tail))


@dataclass
class RouterStats:
    sent: int = 0
    answered: int = 0
    timed_out: int = 0
    rejected: int = 0
    bad_responses: int = 0
    late_responses: int = 0


class Transport(Protocol):
    """How commands reach agents of one ``kind`` other than our MQTT agents (e.g. ``legacy``: WebSocket).

    Both methods may be called from any thread and must not block.
    """

    def validate(self, ticket: Ticket) -> Response | None:
        """Check (and normalise ``ticket.params`` of) the command for this kind; a failure ``Response``."""
        ...

    def send(self, ticket: Ticket) -> str | None:
        """Hand the command to the agent: ``None`` when handed over, else why it could not be."""
        ...
