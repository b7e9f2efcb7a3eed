"""The one write path of a stored command: read, change, write back only if nobody wrote in between (the record's
``revision``), retry on a lost race; the aggregate status and ``updated_at`` are set here, and a record that has
just become terminal is reported (statistics). Results (``CommandService``), a failed publish and the sweeper
(``CommandSweeper``) all change records through it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from chalicelib.domain.command import CommandRecord, aggregate_status
from chalicelib.errors import UpstreamError
from chalicelib.repositories.command import CommandRepository
from chalicelib.services.optimistic_writes import retry_stale

#: Optimistic-locking attempts when results for one command arrive concurrently.
MAX_WRITE_ATTEMPTS = 8

#: ``change(record, now)``: the changed record, or ``None`` to write nothing
Change = Callable[[CommandRecord, float], CommandRecord | None]


class ConcurrentUpdates(UpstreamError):
    """Every attempt lost its race to another writer of the same command."""


class CommandUpdater:
    def __init__(self, commands: CommandRepository, clock: Callable[[], float] = time.time,
                 on_finished: Callable[[CommandRecord], None] | None = None,
                 attempts: int = MAX_WRITE_ATTEMPTS) -> None:
        self._commands = commands
        self._clock = clock
        #: told of each command that has just become terminal (statistics)
        self._on_finished = on_finished
        self._attempts = attempts

    def update(self, command_id: str, change: Change) -> CommandRecord | None:
        """Read-modify-write with optimistic locking: ``change`` returns the new record or ``None`` for no write.
        Returns the stored record (``None``: there is no such command); :class:`ConcurrentUpdates` when every
        attempt lost its race."""

        def attempt() -> tuple[CommandRecord, CommandRecord] | None:
            """(the record read, the record stored), or ``None`` when there is no such command."""
            record = self._commands.get(command_id)
            if record is None:
                return None
            now = self._clock()
            changed = change(record, now)
            if changed is None:
                return record, record
            changed = dataclasses.replace(changed, status=aggregate_status(changed.results.values()), updated_at=now)
            return record, self._commands.save(changed)

        written = retry_stale(
            attempt, ConcurrentUpdates(f"command {command_id}: too many concurrent updates; retry"), self._attempts
        )
        if written is None:
            return None
        record, stored = written
        if self._on_finished is not None and stored.status.terminal and not record.status.terminal:
            self._on_finished(stored)
        return stored
