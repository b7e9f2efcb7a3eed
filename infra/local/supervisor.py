"""The local twin's supervisor: a process of the twin that exits without being asked to (a crash, ``kill -9``) is
started again, after a backoff that doubles while it keeps failing, and each restart is logged.

It plays the part of what supervises each piece in production (docs/operations.md#supervision): Docker's
``restart: unless-stopped`` for the LMS and the site broker (infra/lms/compose.yaml), systemd's ``Restart=always``
for the agent (edge/agent/classtop-agent.service), AWS for IoT Core.

A part is watched with two callables: whether it runs, and how to start it again. :meth:`Supervisor.hold` keeps
one down on purpose (a test cutting the cloud link) until :meth:`Supervisor.release`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infra.local.mosquitto import MosquittoProcess
from infra.local.process import ChildProcess
from shared.worker_thread import WorkerThread

log = logging.getLogger(__name__)

#: the first wait before a restart, doubled after each restart that did not stay up, up to the last
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
#: a part that stayed up this long is healthy again: its next restart waits the first backoff again
STABLE_S = 30.0
POLL_S = 0.1


@dataclass
class _Part:
    name: str
    alive: Callable[[], bool]
    restart: Callable[[], object]
    backoff_s: float = BACKOFF_FIRST_S
    started_at: float = field(default_factory=time.monotonic)
    down_since: float | None = None
    retry_at: float | None = None
    held: bool = False
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class Restart:
    """One restart: which part, after how long down (seconds, from when the supervisor saw it down)."""

    name: str
    down_s: float
    at: float


class Supervisor:
    def __init__(self, *, backoff_first_s: float = BACKOFF_FIRST_S, backoff_max_s: float = BACKOFF_MAX_S,
                 stable_s: float = STABLE_S, poll_s: float = POLL_S) -> None:  # fmt: skip
        self.backoff_first_s = backoff_first_s
        self.backoff_max_s = backoff_max_s
        self.stable_s = stable_s
        self.poll_s = poll_s
        self._parts: dict[str, _Part] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._worker = WorkerThread("twin-supervisor", self._run, wake=self._wake.set)
        self.history: list[Restart] = []

    def watch(self, name: str, alive: Callable[[], bool], restart: Callable[[], object]) -> None:
        with self._lock:
            self._parts[name] = _Part(name, alive, restart, backoff_s=self.backoff_first_s)

    def hold(self, name: str) -> None:
        """Leave ``name`` down (e.g. it is stopped on purpose) until :meth:`release`."""
        with self._lock:
            self._parts[name].held = True

    def release(self, name: str) -> None:
        with self._lock:
            part = self._parts[name]
            part.held, part.down_since, part.retry_at = False, None, None

    def restarts(self, name: str) -> int:
        with self._lock:
            return self._parts[name].restarts

    def start(self) -> Supervisor:
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()

    def _run(self) -> None:
        while not self._worker.stopping.is_set():
            with self._lock:
                parts = [p for p in self._parts.values() if not p.held]
            for part in parts:
                if self._worker.stopping.is_set():
                    return
                self._check(part)
            self._wake.wait(self.poll_s)

    def _check(self, part: _Part) -> None:
        now = time.monotonic()
        try:
            up = part.alive()
        except Exception:
            log.exception("supervisor: cannot tell whether %s runs", part.name)
            return
        if up:
            part.down_since = part.retry_at = None  # (it was stopped on purpose meanwhile)
            return
        if part.down_since is None:
            if now - part.started_at >= self.stable_s:  # it had been up a while: healthy, the first backoff again
                part.backoff_s = self.backoff_first_s
            part.down_since, part.retry_at = now, now + part.backoff_s
            log.warning("supervisor: %s is down: restart #%d in %.1f s", part.name, part.restarts + 1, part.backoff_s)
            return
        if part.retry_at is None or now < part.retry_at:
            return
        try:
            part.restart()
        except Exception as exc:
            part.backoff_s = min(part.backoff_s * 2, self.backoff_max_s)
            part.retry_at = time.monotonic() + part.backoff_s
            log.error("supervisor: could not restart %s (%s): next try in %.1f s", part.name, exc, part.backoff_s)
            return
        part.restarts += 1
        down_s = time.monotonic() - part.down_since
        with self._lock:
            self.history.append(Restart(part.name, down_s, time.time()))
        log.warning("supervisor: %s restarted (restart #%d, down %.1f s)", part.name, part.restarts, down_s)
        part.started_at, part.down_since, part.retry_at = time.monotonic(), None, None
        part.backoff_s = min(part.backoff_s * 2, self.backoff_max_s)  # for the next fall, unless it stays up


# ------------------------------------------------------------ the twin's parts

Check = Callable[[], bool]
RestartPart = Callable[[], object]


def broker_watch(broker: MosquittoProcess) -> tuple[Check, RestartPart]:
    """A broker runs, or was stopped on purpose (``stop()`` forgets the process; a crashed one is still known)."""

    def restart() -> None:
        broker.stop()
        broker.start()

    return (lambda: broker.running or broker.pid is None), restart


def child_watch(get: Callable[[], ChildProcess | None]) -> tuple[Check, RestartPart]:
    """A child process (looked up at each check) runs, or was stopped on purpose (``ChildProcess.stop``): only a
    process that exited unasked is restarted."""

    def alive() -> bool:
        child = get()
        return child is None or child.alive or child.stopped

    def restart() -> None:
        child = get()
        if child is not None and not child.alive and not child.stopped:
            child.restart()

    return alive, restart
