"""The ``Event`` messages this agent publishes on ``ct/agent/<id>/up/event`` (one builder per kind).

Kinds (documented in ``docs/protocol.md``):

* ``command.state`` — ``{request_id, status}`` (plus ``command_id`` for a cloud command), ``status`` one of
  ``queued`` (waiting for a free command slot) or ``running`` (its process is starting); sent for commands that
  run on the worker pool (``exec``), and ``running`` for every command that carries a cloud ``command_id`` (the
  cloud's ``started`` hop); the terminal state follows as the ``Response``;
* ``classtop.snapshot`` — this PC's courses and schedule (see :mod:`edge.agent.classtop`);
* ``processes`` — the top processes by CPU and by memory (see :mod:`edge.agent.processes`);
* ``outbox.dropped`` — ``{dropped}``: queued results/events lost to the outbox bound (see
  :mod:`edge.agent.outbox`).
"""

from __future__ import annotations

import time
from typing import Any

from shared.messages.enums import CommandStatus, Severity
from shared.messages.structs import Event, build

COMMAND_STATE = "command.state"
PROGRESS_STATES = frozenset({CommandStatus.QUEUED, CommandStatus.RUNNING})


def command_state(request_id: str, status: CommandStatus, command_id: str | None = None, *,
                  at: float | None = None) -> Event:
    """``at``: when it happened (default: now; a command's ``running`` sent again gives its start)."""
    if status not in PROGRESS_STATES:
        raise ValueError(f"{status.value} is reported by the response, not by a command.state event")
    data = {"request_id": request_id, "status": status.value}
    if command_id is not None:
        data["command_id"] = command_id
    when = time.time() if at is None else at
    return build(Event, timestamp=when, kind=COMMAND_STATE, message=f"{request_id} {status.value}", data=data)


def event(kind: str, data: dict[str, Any], message: str = "", severity: Severity = Severity.INFO) -> Event:
    return build(Event, timestamp=time.time(), kind=kind, severity=severity, message=message, data=data)
