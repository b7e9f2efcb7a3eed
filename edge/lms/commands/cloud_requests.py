"""The cloud's commands in flight at this site, per agent: kept in SQLite until their terminal result is in the
cloud outbox, paced by the agents' command slots, and asked again until the agent answers
(docs/architecture.md#delivery-of-commands-and-results).

* :class:`CloudRequestRows` — table ``cloud_requests``, one row per ``(command id, agent)``: written in the same
  transaction that records the command id as handled (``cloud_commands``), deleted once the terminal result is in
  the durable outbox. An LMS killed at any point finds at its next start what it had not finished, and asks
  the agents again (an agent that ran it answers from its journal: :mod:`edge.agent.command_journal`).
* :class:`RequestIds` — which cloud command and agent each request id of this LMS was for (the agents' progress and
  late answers name the request id).
* :class:`Pacer` — per agent, at most as many requests in flight as the agent has command slots (it says how many
  in each ``busy`` answer), the others wait their turn; and a timer heap for requests to ask again later.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from edge.lms.store import Store

#: Schema version 13.
CLOUD_REQUEST_TABLE_V13 = (
    """CREATE TABLE IF NOT EXISTS cloud_requests (
            command_id TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            command TEXT NOT NULL,
            params TEXT NOT NULL,
            timeout_s REAL NOT NULL,
            expires_at REAL,
            received_at REAL NOT NULL,
            PRIMARY KEY (command_id, agent_id)
        )""",
)

#: Backoff of a request asked again (busy agent, no answer in time): doubling from the first to the last.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


@dataclass(eq=False)
class CloudRequest:
    """One cloud command for one agent, until its terminal result is in the outbox."""

    command_id: str
    agent_id: str
    command: str
    params: dict[str, Any]
    timeout_s: float
    #: the end of the delivery window (the cloud's ``expires_at``): not sent again after it
    expires_at: float | None
    received_at: float
    attempts: int = 0
    #: the request id of the latest attempt, and its ticket while it is in flight
    request_id: str | None = None
    ticket: Any = None
    resumed: bool = False
    done: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.command_id, self.agent_id)

    @property
    def ask_until(self) -> float:
        """Asked again until then: the delivery window, else (a command without one) its own timeout."""
        return self.expires_at if self.expires_at is not None else self.received_at + self.timeout_s

    def backoff_s(self) -> float:
        return min(RETRY_FIRST_S * 2.0 ** min(self.attempts, 10), RETRY_MAX_S)


class CloudRequestRows:
    """Table ``cloud_requests`` (and ``cloud_commands``, the ids handled)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def admit(self, command_id: str, received_at: float, requests: list[CloudRequest]) -> bool:
        """Record the command id as handled and its requests, in one transaction. False: handled before (a
        redelivery, maybe across a restart): nothing is written."""
        with self._store.transaction() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO cloud_commands (request_id, received_at) VALUES (?, ?)",
                               (command_id, received_at))  # fmt: skip
            if cur.rowcount != 1:
                return False
            conn.executemany(
                "INSERT OR REPLACE INTO cloud_requests (command_id, agent_id, command, params, timeout_s, expires_at,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.command_id, r.agent_id, r.command, json.dumps(r.params), r.timeout_s, r.expires_at,
                  r.received_at) for r in requests],
            )  # fmt: skip
        return True

    def remove(self, keys: list[tuple[str, str]]) -> None:
        if not keys:
            return
        with self._store.transaction() as conn:
            conn.executemany("DELETE FROM cloud_requests WHERE command_id = ? AND agent_id = ?", keys)

    def unfinished(self) -> list[CloudRequest]:
        """What an earlier run of the LMS left unfinished, oldest first."""
        with self._store.transaction() as conn:
            rows = conn.execute(
                "SELECT command_id, agent_id, command, params, timeout_s, expires_at, received_at FROM cloud_requests"
                " ORDER BY received_at"
            ).fetchall()
        return [CloudRequest(r[0], r[1], r[2], json.loads(r[3]), float(r[4]),
                             None if r[5] is None else float(r[5]), float(r[6]), resumed=True)
                for r in rows]  # fmt: skip


@dataclass
class _Agent:
    in_flight: int = 0
    #: command slots the agent said it has (``None``: not told yet, no limit)
    slots: int | None = None
    waiting: deque[CloudRequest] = field(default_factory=deque)


class Pacer:
    """Per-agent pacing and the retry timers. Not thread-safe: the fan-out's worker owns it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._agents: dict[str, _Agent] = {}
        self._in_flight = 0
        self._later: list[tuple[float, int, CloudRequest]] = []
        self._seq = itertools.count()

    def offer(self, request: CloudRequest) -> bool:
        """True: send it now (counted in flight); False: it waits for a free slot of its agent."""
        agent = self._agents.setdefault(request.agent_id, _Agent())
        if agent.waiting or not self._free(agent):
            agent.waiting.append(request)
            return False
        self._take(agent)
        return True

    def release(self, agent_id: str) -> list[CloudRequest]:
        """One request of this agent ended: those that may be sent now (counted in flight)."""
        agent = self._agents.setdefault(agent_id, _Agent())
        agent.in_flight = max(agent.in_flight - 1, 0)
        self._in_flight = max(self._in_flight - 1, 0)
        ready = []
        for candidate in [agent, *self._agents.values()]:  # this agent first, then any held by the total
            while candidate.waiting and self._free(candidate):
                self._take(candidate)
                ready.append(candidate.waiting.popleft())
        return ready

    def learn(self, agent_id: str, slots: object) -> None:
        """The agent's ``busy`` answer said how many commands it runs at once."""
        if isinstance(slots, int) and not isinstance(slots, bool) and 0 < slots <= 1024:
            self._agents.setdefault(agent_id, _Agent()).slots = slots

    def later(self, request: CloudRequest, delay_s: float) -> None:
        heapq.heappush(self._later, (time.monotonic() + delay_s, next(self._seq), request))

    def due(self) -> list[CloudRequest]:
        now, out = time.monotonic(), []
        while self._later and self._later[0][0] <= now:
            out.append(heapq.heappop(self._later)[2])
        return out

    def wait_s(self) -> float | None:
        return max(self._later[0][0] - time.monotonic(), 0.0) if self._later else None

    def _free(self, agent: _Agent) -> bool:
        return self._in_flight < self.total and (agent.slots is None or agent.in_flight < agent.slots)

    def _take(self, agent: _Agent) -> None:
        agent.in_flight += 1
        self._in_flight += 1


class RequestIds:
    """request id -> (command id, agent), the newest ``size``. Thread-safe."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._ids: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request_id: str, command_id: str, agent_id: str) -> None:
        with self._lock:
            self._ids[request_id] = (command_id, agent_id)
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)

    def get(self, request_id: str) -> tuple[str, str] | None:
        with self._lock:
            return self._ids.get(request_id)
