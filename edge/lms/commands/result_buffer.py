"""What the LMS tells the cloud about its cloud commands: per ``(command id, agent)`` the newest status and the
hops it passed, batched and changed-only (see :mod:`edge.lms.commands.fanout`).

* **Changed-only.** A status is sent only when it ranks above the last one sent for that agent
  (``status_rank``: pending < queued < delivered < running < terminal); hop times ride along with the next status
  sent (every result carries all the hops known so far, so a terminal result alone tells the whole story).
* **Batched.** Progress (``queued``, ``delivered``, ``running``) waits up to :data:`HOLD_S` for more to go with
  it; a terminal status waits :data:`TERMINAL_DELAY_S` (completions that arrive together leave as one message).
  While it waits, a newer status of the same agent replaces it: a command answered within the hold costs one
  result, however many states it passed. The one exception to "higher rank replaces": an agent that says it
  queued the command for a free slot replaces a ``delivered`` not sent yet (the cloud then shows ``queued``).
* Reports after an agent's terminal result (a late ``running``) are dropped (a bounded memory of finished ones).

Not thread-safe: the fan-out's worker thread owns it.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.errors import ErrorCode
from shared.messages import AgentResult, CommandStatus, Response
from shared.messages.command import CommandHop, status_rank

#: Progress waits at most this long for more to leave with it (one message instead of one per state).
HOLD_S = 1.0
#: A terminal result waits this long for others (completions that arrive together: one message).
TERMINAL_DELAY_S = 0.05
#: A single result bigger than this has its ``data`` replaced by a note (IoT Core's limit is 128 KB).
MAX_RESULT_BYTES = 64 * 1024
MAX_RESULTS_PER_MESSAGE = 500
#: Agents' commands in progress remembered (hops, last status sent); the oldest are forgotten beyond this.
MAX_TRACKED = 100_000
#: Finished ``(command id, agent)`` remembered, so that a late progress report is dropped.
MAX_FINISHED = 20_000

Key = tuple[str, str]


@dataclass(slots=True)
class Report:
    """One thing that happened to a cloud command on one agent."""

    command_id: str
    agent_id: str
    status: CommandStatus
    hops: dict[CommandHop, float] = field(default_factory=dict)
    #: the outcome, for a terminal status the agent (or the router) answered
    response: Response | None = None
    #: why, for a terminal status without a response (expired, cancelled)
    error: str | None = None
    error_code: ErrorCode | None = None


@dataclass(slots=True)
class _Track:
    hops: dict[CommandHop, float] = field(default_factory=dict)
    sent_rank: int = -1
    #: the hops as sent to the cloud (it keeps each hop's first time): later hops are ordered after them
    sent_hops: dict[CommandHop, float] = field(default_factory=dict)


class ResultBuffer:
    def __init__(self, *, hold_s: float = HOLD_S, terminal_delay_s: float = TERMINAL_DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._hold_s = hold_s
        self._terminal_delay_s = terminal_delay_s
        self._clock = clock
        self._tracks: OrderedDict[Key, _Track] = OrderedDict()
        self._finished: OrderedDict[Key, None] = OrderedDict()
        self._pending: dict[Key, Report] = {}
        self._since: float | None = None
        self._terminal_since: float | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def note(self, command_id: str, agent_id: str, hops: dict[CommandHop, float]) -> None:
        """Hops passed without a new status: they leave with the next status of that agent."""
        self._track((command_id, agent_id), hops)

    def tracks(self, key: Key) -> bool:
        """Whether the LMS reports on ``key`` (a cloud command to that agent) and has not sent its end yet."""
        return key in self._tracks and key not in self._finished

    def _track(self, key: Key, hops: dict[CommandHop, float]) -> _Track | None:
        if key in self._finished:
            return None
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track()
            while len(self._tracks) > MAX_TRACKED:
                self._tracks.popitem(last=False)
        for hop, at in hops.items():
            track.hops.setdefault(hop, at)
        return track

    def add(self, report: Report) -> bool:
        """Take a report; ``False`` when it changes nothing the cloud would see (its hops are kept)."""
        key = (report.command_id, report.agent_id)
        track = self._track(key, report.hops)
        if track is None:
            return False
        rank = status_rank(report.status)
        if rank <= track.sent_rank:
            return False
        current = self._pending.get(key)
        if current is not None:
            waiting_on_agent = report.status is CommandStatus.QUEUED and current.status is CommandStatus.DELIVERED
            if current.status.terminal or (rank <= status_rank(current.status) and not waiting_on_agent):
                return False
        now = self._clock()
        self._pending[key] = report
        if self._since is None:
            self._since = now
        if report.status.terminal and self._terminal_since is None:
            self._terminal_since = now
        return True

    def wait_s(self) -> float | None:
        """How long until :meth:`due` (``None``: nothing waits)."""
        if self._since is None:
            return None
        deadline = self._since + self._hold_s
        if self._terminal_since is not None:
            deadline = min(deadline, self._terminal_since + self._terminal_delay_s)
        return max(0.0, deadline - self._clock())

    def due(self) -> bool:
        wait = self.wait_s()
        return wait is not None and (wait <= 0.0 or len(self._pending) >= MAX_RESULTS_PER_MESSAGE)

    def take(self) -> list[AgentResult]:
        """Everything waiting, as results (each with every hop known), oldest first; marks them sent."""
        now = time.time()
        out: list[AgentResult] = []
        for key, report in self._pending.items():
            track = self._tracks.get(key) or _Track(dict(report.hops))
            hops = ordered_hops(track.hops, now, track.sent_hops)
            track.sent_hops.update(hops)
            out.append(_result(report, hops, now))
            if report.status.terminal:
                self._tracks.pop(key, None)
                self._finished[key] = None
                while len(self._finished) > MAX_FINISHED:
                    self._finished.popitem(last=False)
            else:
                track.sent_rank = status_rank(report.status)
        self._pending.clear()
        self._since = self._terminal_since = None
        return out


#: the hops that happen one after the other (``queued`` may come before or after ``delivered``: left alone)
_CHAIN = (CommandHop.RECEIVED, CommandHop.DELIVERED, CommandHop.STARTED, CommandHop.FINISHED)


def ordered_hops(
    hops: dict[CommandHop, float], now: float, sent: dict[CommandHop, float] | None = None
) -> dict[CommandHop, float]:
    """``hops`` in the order the LMS saw them happen, whatever the clocks said. ``sent``: the hops the cloud has
    already (it keeps each hop's first time): kept as they are, and what follows them is ordered after them.

    The agent's ``started`` (the agent's clock) is kept at most at ``finished`` (or ``now``, the LMS's clock,
    before it finished); then each hop of received, delivered, started, finished is moved up to the one before
    it when it was stamped earlier (the LMS's wall clock stepped back between them)."""
    sent = sent or {}
    out = {**hops, **sent}
    if CommandHop.STARTED in out and CommandHop.STARTED not in sent:
        out[CommandHop.STARTED] = min(out[CommandHop.STARTED], out.get(CommandHop.FINISHED, now))
    last: float | None = None
    for hop in _CHAIN:
        if hop not in out:
            continue
        if hop not in sent and last is not None:
            out[hop] = max(out[hop], last)
        last = out[hop] if last is None else max(out[hop], last)
    return out


def _result(report: Report, hops: dict[CommandHop, float], now: float) -> AgentResult:
    response = report.response
    result = AgentResult(
        request_id=report.command_id, agent_id=report.agent_id, status=report.status,
        success=response.success if response is not None else (False if report.status.terminal else None),
        data=response.data if response is not None else None,
        error=response.error if response is not None else report.error,
        error_code=response.error_code if response is not None else report.error_code,
        timestamp=now, hops=dict(hops) or None,
    )  # fmt: skip
    data = result.data
    size = len(json.dumps(data, default=str)) if data is not None else 0
    if size > MAX_RESULT_BYTES:
        result = result.model_copy(
            update={"data": {"truncated": True, "bytes": size, "note": "result too large for the cloud link"}}
        )
    return result
