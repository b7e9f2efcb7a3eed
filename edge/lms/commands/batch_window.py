"""One command to many agents with a bounded number in flight: how a batch is sent."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Any

from edge.lms.commands.router import Router
from edge.lms.commands.ticket import Ticket

#: commands written to the broker together (one ``send``); the first leave before the rest are made
_CHUNK = 32


class BatchWindow:
    """Send one command to many agents with at most ``concurrency`` in flight, without a coroutine or a loop
    wake-up per agent: completions (on the MQTT thread) refill the window; one wake-up when all are done."""

    def __init__(
        self, router: Router, agent_ids: list[str], command: str, params: dict[str, Any], timeout_s: float | None,
        concurrency: int, loop: asyncio.AbstractEventLoop,
    ) -> None:  # fmt: skip
        self._router = router
        self._todo = deque(agent_ids)
        self._total = len(agent_ids)
        self._command, self._params, self._timeout_s = command, params, timeout_s
        #: checked and encoded once (``None``: a command every agent refuses; each is told why by ``dispatch``)
        self._prepared = router.prepare(command, params, timeout_s, source="batch") if agent_ids else None
        self._concurrency = concurrency
        self._loop = loop
        self._lock = threading.Lock()
        self._pumping = False
        self._in_flight = 0
        self._finished = 0
        self._done: asyncio.Future[None] = loop.create_future()
        self.tickets: dict[str, Ticket] = {}

    async def run(self) -> dict[str, Ticket]:
        if self._total == 0:
            return {}
        self._pump()
        await self._done
        return self.tickets

    def _pump(self) -> None:
        with self._lock:
            if self._pumping or not self._todo or self._in_flight >= self._concurrency:
                return  # another thread sends, or nothing to send (each answer after the last send lands here)
            self._pumping = True
        more = True
        while more:  # each chunk of commands leaves together, and travels while the next is made
            with self._router.corked():
                more = self._send(_CHUNK)

    def _send(self, count: int) -> bool:
        """Send up to ``count`` commands; ``False`` once the window is full or every agent has its command."""
        for _ in range(count):
            with self._lock:
                if not self._todo or self._in_flight >= self._concurrency:
                    self._pumping = False
                    return False
                agent_id = self._todo.popleft()
                self._in_flight += 1
            try:
                if self._prepared is not None:
                    ticket = self._router.dispatch_prepared(agent_id, self._prepared)
                else:
                    ticket = self._router.dispatch(agent_id, self._command, self._params, self._timeout_s,
                                                   source="batch")  # fmt: skip
            except BaseException:
                with self._lock:
                    self._pumping = False
                raise
            self.tickets[agent_id] = ticket
            ticket.future.add_done_callback(self._on_done)
        return True

    def _on_done(self, _future: object) -> None:
        with self._lock:
            self._in_flight -= 1
            self._finished += 1
            last = self._finished == self._total
        if last:
            self._loop.call_soon_threadsafe(self._resolve)
        else:
            self._pump()

    def _resolve(self) -> None:
        if not self._done.done():
            self._done.set_result(None)
