"""A child process of the local twin: started with its log in a file, stopped with SIGTERM then SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]


class ChildProcess:
    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.argv = list(argv)
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        #: stopped on purpose (:meth:`stop`), not crashed: the twin's supervisor leaves it down
        self.stopped = False

    @classmethod
    def python(cls, name: str, module: str, args: Sequence[str], log_path: Path, **kw: object) -> ChildProcess:
        return cls(name, [sys.executable, "-m", module, *args], log_path, **kw)  # type: ignore[arg-type]

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ChildProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.stopped = False
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        return self

    def restart(self) -> ChildProcess:
        """Start it again (after it exited: its log file is reopened, appended to)."""
        self._close()
        return self.start()

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if not self.alive:
            code = self.proc.returncode if self.proc else None
            raise RuntimeError(f"{self.name} exited (code {code}); log {self.log_path}:\n{self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close()
        return self.proc.returncode if self.proc else None

    def _close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_for(what: str, predicate: object, timeout_s: float, *, every_s: float = 0.05,
             watch: Sequence[ChildProcess] = ()) -> None:
    """Poll ``predicate()`` until true; fail early if a watched process died."""
    deadline = time.monotonic() + timeout_s
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        for child in watch:
            child.check_alive()
        try:
            if predicate():  # type: ignore[operator]
                return
        except Exception as exc:  # e.g. connection refused while starting
            last_exc = exc
        time.sleep(every_s)
    detail = f" (last error: {last_exc})" if last_exc else ""
    raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what}{detail}")
