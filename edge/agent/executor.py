"""Remote ``exec``: the policy check, then one process tree run to completion, timeout, or abort.

How a command runs (what :mod:`edge.agent.exec_policy` planned):

* ``argv`` is executed directly; ``cmd`` as ``/bin/sh -c cmd`` (``any`` mode; in ``allowlist`` mode a ``cmd``
  is run as its words, without a shell). Either way in a new session (``start_new_session=True``), so the
  command and everything it spawns share one process group;
* in a minimal environment — ``PATH``, ``HOME``, ``LANG`` (:mod:`edge.agent.exec_env`) — plus the request's
  ``env`` as the policy admits it; stdin is the request's ``stdin`` text or ``/dev/null``;
* stdout and stderr are read by one selector loop in the calling thread: each stream keeps its first
  ``limit`` bytes and the rest is read and discarded, so a chatty command never blocks on a full pipe;
* the timeout covers the whole command, including children that keep its output open. When it expires the
  whole process group gets SIGTERM, then SIGKILL after ``kill_grace_s``; the result says ``timed_out``.
  Children that detach from the output (``nohup x >/dev/null &``) and outlive a *successful* command are
  left running: that is how an admin starts something in the background;
* :meth:`Executor.abort_all` (agent shutdown) kills every running group the same way.

The policy (``disabled`` / ``allowlist`` / ``any``) is described in :mod:`edge.agent.config`, its checks in
:mod:`edge.agent.exec_policy`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from edge.agent.config import ExecPolicy
from edge.agent.exec_policy import ExecPlan, ExecPlanner
from shared.errors import CommandError, ErrorCode

if TYPE_CHECKING:  # the parameter models load pydantic (on the first command)
    from shared.commands import ExecParams

log = logging.getLogger(__name__)

_CHUNK = 65536


@dataclass(slots=True)
class ExecResult:
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_ms: int
    timed_out: bool
    aborted: bool = False  # killed because the agent is stopping

    def to_data(self) -> dict[str, Any]:
        """The response ``data`` of ``exec``."""
        return {
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "duration_ms": self.duration_ms,
            "timed_out": self.timed_out,
        }


@dataclass(slots=True)
class _Capture:
    limit: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class Executor:
    """Checks ``exec`` requests against an :class:`ExecPolicy` and runs them. Thread-safe."""

    def __init__(self, policy: ExecPolicy) -> None:
        self.policy = policy
        self._planner = ExecPlanner(policy)
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._aborting = False

    def plan(self, params: ExecParams) -> ExecPlan:
        """Check ``params`` against the policy: a plan, or :class:`CommandError` (rejected or invalid)."""
        return self._planner.plan(params)

    # ------------------------------------------------------------ running

    def run(self, plan: ExecPlan) -> ExecResult:
        """Run ``plan`` to completion (or timeout/abort). Raises :class:`CommandError` if it cannot start."""
        started = time.monotonic()
        deadline = started + plan.timeout_s
        with self._lock:
            if self._aborting:
                raise CommandError("the agent is stopping", code=ErrorCode.BUSY)
            try:
                proc = subprocess.Popen(
                    plan.argv,
                    stdin=subprocess.PIPE if plan.stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=plan.cwd,
                    env=plan.env,
                    start_new_session=True,
                    close_fds=True,
                )
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                raise CommandError(
                    f"cannot start {plan.argv[0]!r}: {_describe(exc)}", code=ErrorCode.EXEC_FAILED
                ) from None
            self._running[proc.pid] = proc
        try:
            return self._supervise(proc, plan, started, deadline)
        finally:
            with self._lock:
                self._running.pop(proc.pid, None)

    def _supervise(
        self, proc: subprocess.Popen[bytes], plan: ExecPlan, started: float, deadline: float
    ) -> ExecResult:
        out, err = _Capture(plan.output_limit), _Capture(plan.output_limit)
        timed_out = not self._pump(proc, plan.stdin, out, err, deadline)
        if not timed_out:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
        aborted = self._aborting and not timed_out and proc.returncode is not None and proc.returncode < 0
        if timed_out:
            kill_group(proc, self.policy.kill_grace_s)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            _close(stream)
        proc.wait()
        return ExecResult(
            exit_code=proc.returncode,
            stdout=out.text(),
            stderr=err.text(),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            duration_ms=round((time.monotonic() - started) * 1000),
            timed_out=timed_out,
            aborted=aborted,
        )

    def _pump(
        self, proc: subprocess.Popen[bytes], stdin: bytes | None, out: _Capture, err: _Capture, deadline: float
    ) -> bool:
        """Feed stdin and drain stdout/stderr until both reach EOF (True) or the deadline passes (False).

        When the agent is stopping, the main process having exited is enough (a child that escaped the
        process group may hold the pipes open forever).
        """
        assert proc.stdout is not None and proc.stderr is not None
        captures = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
        with selectors.DefaultSelector() as sel:
            for fd in captures:
                sel.register(fd, selectors.EVENT_READ)
            pending = memoryview(stdin or b"")
            if proc.stdin is not None:
                if pending:
                    os.set_blocking(proc.stdin.fileno(), False)
                    sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
                else:
                    _close(proc.stdin)
            while sel.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._aborting and proc.poll() is not None:
                    return True
                for key, _events in sel.select(min(remaining, 0.5)):
                    fd = int(key.fd)
                    if fd in captures:
                        chunk = os.read(fd, _CHUNK)
                        if chunk:
                            captures[fd].add(chunk)
                        else:
                            sel.unregister(fd)
                        continue
                    try:
                        pending = pending[os.write(fd, pending[:_CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        _close(proc.stdin)
        return True

    def abort_all(self, grace_s: float | None = None) -> int:
        """Kill every running command's process group (agent shutdown). Returns how many there were."""
        with self._lock:
            self._aborting = True
            procs = list(self._running.values())
        grace = self.policy.kill_grace_s if grace_s is None else grace_s
        threads = [threading.Thread(target=kill_group, args=(p, grace), daemon=True) for p in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(grace + 2.0)
        return len(procs)

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)


def kill_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process group led by ``proc``, then SIGKILL whatever is left after ``grace_s``."""
    pgid = proc.pid
    if not _signal_group(pgid, signal.SIGTERM):
        return
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        proc.poll()  # reap the leader so it does not count as a member
        if not _group_alive(pgid):
            return
        time.sleep(0.02)
    if _signal_group(pgid, signal.SIGKILL):
        log.info("process group %d ignored SIGTERM for %.1f s: killed", pgid, grace_s)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed user (setuid): nothing more we can do
        log.warning("not allowed to signal process group %d", pgid)
        return False


def _group_alive(pgid: int) -> bool:
    """True while a live (non-zombie) process is in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] != b"Z":
            return True
    return False


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc)
