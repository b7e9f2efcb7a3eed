"""Test-only ([event_spool], absent by default): events another program on this PC drops as files, published by the
agent as its own through the durable outbox (``ct/agent/<id>/up/event``), so a test can make a real agent emit
events at will and count them through every tier (the fault-injection run, ``make chaos``).

Each ``*.json`` file in ``directory`` holds one :class:`~shared.messages.Event` (``type``, ``timestamp``, ``kind``,
``severity``, ``message``, ``data``); the files are taken in name order every ``interval_s``. A file is deleted only
once the outbox holds its event (durably), so a crash in between sends it again: the same event, which the LMS and
the cloud store once (an event is its content). A writer renames a finished file into place (``*.json``), so a
half-written file is never read. A file that is not a valid event is renamed ``*.bad`` and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from shared.errors import SharedError
from shared.messages.structs import Event, decode

log = logging.getLogger(__name__)


class EventSpool:
    def __init__(self, directory: Path, publish: Callable[[Event], bool]) -> None:
        self.directory = directory
        self._publish = publish

    def drain(self) -> int:
        """Publish every event waiting, in name order; stop at the first the outbox did not take. How many went."""
        sent = 0
        for path in sorted(self.directory.glob("*.json")):
            try:
                event = decode(Event, path.read_bytes())
            except FileNotFoundError:
                continue
            except (OSError, SharedError, ValueError) as exc:
                log.error("event spool: %s is not an event, set aside as .bad: %s", path.name, exc)
                path.rename(path.with_suffix(".bad"))
                continue
            if not self._publish(event):
                break  # not taken now (the outbox refused it): the next turn tries again, in order
            path.unlink()
            sent += 1
        return sent
