"""The command sweeper: closes commands whose sites never reported.

Run every few minutes (``@app.schedule``). It queries the sparse ``by_open`` index for unfinished commands whose
``expires_at`` (the delivery window) has passed — no scan — and marks each agent that never got the command
(``pending`` / ``queued``) ``expired`` and each that got it but never answered (``delivered`` / ``running``)
``timed_out`` once its ``timeout_s`` has passed as well. Terminal outcomes are never touched, so a result that
arrives later is ignored as for any finished agent.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.command import AgentOutcome, CommandRecord
from chalicelib.repositories.command import CommandRepository
from chalicelib.services.command_updates import CommandUpdater, ConcurrentUpdates
from chalicelib.services.optimistic_writes import WRITE_ATTEMPTS
from shared.errors import ErrorCode
from shared.messages import CommandStatus
from shared.messages.enums import CommandHop

log = logging.getLogger(__name__)

_UNDELIVERED = frozenset({CommandStatus.PENDING, CommandStatus.QUEUED})


@dataclass(frozen=True, slots=True)
class SweepReport:
    commands_closed: int = 0
    agents_expired: int = 0
    agents_timed_out: int = 0
    #: commands still open (an agent still running within its timeout) or lost to concurrent writes
    commands_left: int = 0


class CommandSweeper:
    def __init__(self, commands: CommandRepository, clock: Callable[[], float] = time.time,
                 batch: int = 100, on_finished: Callable[[CommandRecord], None] | None = None) -> None:
        self._commands = commands
        self._updater = CommandUpdater(commands, clock, on_finished, attempts=WRITE_ATTEMPTS)
        self._clock = clock
        self._batch = batch

    def sweep(self) -> SweepReport:
        now = self._clock()
        closed = expired = timed_out = left = 0
        for command_id in self._commands.overdue(now, limit=self._batch):
            counts: list[int] = []  # (expired, timed out) of the attempt that wrote

            def close(record: CommandRecord, _: float, counts: list[int] = counts) -> CommandRecord | None:
                counts.clear()
                if record.status.terminal:  # finished meanwhile
                    return None
                changed, n_expired, n_timed_out = self._close(record, now)
                counts.extend((n_expired, n_timed_out))
                return changed

            try:
                stored = self._updater.update(command_id, close)
            except ConcurrentUpdates:
                left += 1
                continue
            if stored is None or not counts:
                continue
            expired += counts[0]
            timed_out += counts[1]
            if stored.status.terminal:
                closed += 1
            else:
                left += 1
        if closed or left:
            log.info("sweeper: %d commands closed, %d left open", closed, left)
        return SweepReport(closed, expired, timed_out, left)

    @staticmethod
    def _close(record: CommandRecord, now: float) -> tuple[CommandRecord, int, int]:
        results: dict[str, AgentOutcome] = dict(record.results)
        expired = timed_out = 0
        for agent_id, outcome in record.results.items():
            if outcome.status in _UNDELIVERED:
                results[agent_id] = dataclasses.replace(
                    outcome, status=CommandStatus.EXPIRED, success=False, updated_at=now,
                    error="not delivered before the command expired", error_code=ErrorCode.TIMEOUT.value,
                    hops={**outcome.hops, CommandHop.STORED: now})
                expired += 1
            elif not outcome.status.terminal and now >= record.expires_at + record.timeout_s:
                results[agent_id] = dataclasses.replace(
                    outcome, status=CommandStatus.TIMED_OUT, success=False, updated_at=now,
                    error="no result reported", error_code=ErrorCode.TIMEOUT.value,
                    hops={**outcome.hops, CommandHop.STORED: now})
                timed_out += 1
        return dataclasses.replace(record, results=results), expired, timed_out
