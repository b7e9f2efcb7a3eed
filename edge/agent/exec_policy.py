"""Remote ``exec``'s policy check: a request in, an :class:`ExecPlan` (exactly what will run) or a refusal out.

The modes (``disabled`` / ``allowlist`` / ``any``) and the allowlist's entries are described in
:mod:`edge.agent.config`. In ``allowlist`` mode the request's words are also pinned down so that what runs is
what was checked, whatever the request, the agent's own environment or a writable directory say:

* the program is a name, looked up on :data:`~edge.agent.exec_env.SAFE_PATH` (never the request's or the
  agent's ``PATH``, never the working directory), or a normalised absolute path (no ``.``, ``..`` or ``//``);
  a relative path (``./ls``, ``bin/ls``) is refused. The allowlist compares the *resolved* absolute path:
  ``"/usr/bin/systemctl"`` accepts ``systemctl``; a name entry (``"uptime"``) accepts that name. Paths are
  compared as written, not through symlinks (a symlink to a multi-call binary such as busybox must not
  admit its other names). The process is started from the resolved path, so nothing is looked up later;
* a ``cmd`` is split into words (no shell syntax allowed) and run like ``argv``, without a shell, so a shell
  builtin can never stand in for the program that was checked;
* ``env`` may set only harmless variables and the owner's ``env_allowlist`` (:mod:`edge.agent.exec_env`);
* ``cwd`` must be a directory that only root or the agent's user can change, along its whole (resolved) path:
  an allowed program may read files from its working directory (``python3 -m``, ``git``'s ``.git/config``),
  so ``/tmp``, a student's home or a USB stick are refused; pass such paths as arguments instead.

``any`` trusts the requester fully: the words, ``env`` and ``cwd`` are used as given (``cmd`` through
``/bin/sh -c``).

Refusals are :class:`~shared.errors.CommandError` ``rejected_by_policy``; malformed parameters
``invalid_params``; a listed program that is not installed ``exec_failed``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.agent.config import REGEX_PREFIX, ExecMode, ExecPolicy
from edge.agent.exec_env import ENV_NAME, SAFE_PATH, base_environment, env_refusal
from shared.errors import CommandError, ErrorCode

if TYPE_CHECKING:  # the parameter models load pydantic (on the first command)
    from shared.commands import ExecParams

SHELL = "/bin/sh"
_SHELL_SYNTAX = re.compile(r"[;&|<>()$`\\*?\[\]{}~!#\n\r]")


def _reject(message: str) -> CommandError:
    return CommandError(message, code=ErrorCode.REJECTED_BY_POLICY)


def _invalid(message: str) -> CommandError:
    return CommandError(message, code=ErrorCode.INVALID_PARAMS)


@dataclass(frozen=True, slots=True)
class ExecPlan:
    """A command that passed the policy: exactly what will be run."""

    argv: list[str]
    command_line: str  # canonical form (shlex.join of the words), for logs and allowlist regexes
    timeout_s: float
    output_limit: int
    cwd: str | None
    env: dict[str, str]
    stdin: bytes | None


class ExecPlanner:
    """Checks ``exec`` requests against an :class:`ExecPolicy`. Stateless after construction: thread-safe."""

    def __init__(self, policy: ExecPolicy) -> None:
        self.policy = policy
        self._names = {e for e in policy.allowlist if not e.startswith(("/", REGEX_PREFIX))}
        self._paths = {e for e in policy.allowlist if e.startswith("/")}
        self._patterns = [
            re.compile(e[len(REGEX_PREFIX) :]) for e in policy.allowlist if e.startswith(REGEX_PREFIX)
        ]
        self._env_names = frozenset(policy.env_allowlist)

    def plan(self, params: ExecParams) -> ExecPlan:
        """Check ``params`` against the policy: a plan, or :class:`CommandError` (rejected or invalid)."""
        mode = self.policy.mode
        if mode is ExecMode.DISABLED:
            raise _reject("remote execution is disabled on this agent")
        if params.timeout_s > self.policy.max_timeout_s:
            limit = self.policy.max_timeout_s
            raise _reject(f"timeout_s {params.timeout_s:g} exceeds this agent's limit of {limit:g} s")
        texts = [params.cmd or "", *(params.argv or []), params.cwd or "", params.stdin or ""]
        if any("\0" in t for t in texts):
            raise _invalid("exec parameters cannot contain NUL characters")
        env = self._environment(params.env or {}, restricted=mode is ExecMode.ALLOWLIST)
        if params.cwd is not None and not os.path.isabs(params.cwd):
            raise _invalid("cwd must be an absolute path")

        if mode is ExecMode.ALLOWLIST:
            words = list(params.argv) if params.argv is not None else self._shell_words(params.cmd or "")
            line = shlex.join(words)
            argv = [self._allowed_program(words[0], line), *words[1:]]
            if params.cwd is not None:
                _check_trusted_dir(params.cwd)
        elif params.argv is not None:
            argv = list(params.argv)
            line = shlex.join(argv)
        else:
            assert params.cmd is not None
            argv, line = [SHELL, "-c", params.cmd], params.cmd
        return ExecPlan(
            argv=argv,
            command_line=line,
            timeout_s=params.timeout_s,
            output_limit=min(params.output_limit, self.policy.max_output_bytes),
            cwd=params.cwd,
            env=env,
            stdin=params.stdin.encode() if params.stdin is not None else None,
        )

    def _environment(self, requested: dict[str, str], *, restricted: bool) -> dict[str, str]:
        env = base_environment()
        for name, value in requested.items():
            if not ENV_NAME.match(name) or "\0" in value:
                raise _invalid(f"invalid environment variable {name!r}")
            refusal = env_refusal(name, value, self._env_names) if restricted else None
            if refusal is not None:
                raise _reject(refusal)
            env[name] = value
        return env

    @staticmethod
    def _shell_words(cmd: str) -> list[str]:
        if _SHELL_SYNTAX.search(cmd):
            raise _reject("shell syntax (; & | < > $ ` * ...) is not allowed in allowlist mode: use argv")
        try:
            words = shlex.split(cmd)
        except ValueError as exc:
            raise _reject(f"cannot parse cmd: {exc}") from None
        if not words:
            raise _reject("empty command")
        if "=" in words[0]:
            raise _reject("variable assignments are not allowed in allowlist mode: use env")
        return words

    def _allowed_program(self, program: str, line: str) -> str:
        """The absolute path of ``program`` if the allowlist admits it (see the module docstring)."""
        if "/" in program:
            if not _normalised_absolute(program):
                raise _reject(
                    f"program {program!r} must be a name (looked up on {SAFE_PATH}) or a normalised absolute path"
                )
            resolved: str | None = program
        else:
            resolved = shutil.which(program, path=SAFE_PATH)
        allowed = (
            ("/" not in program and program in self._names)
            or resolved in self._paths
            or any(p.fullmatch(line) for p in self._patterns)
        )
        if not allowed:
            if not self.policy.allowlist:
                raise _reject("remote execution allowlist is empty on this agent")
            raise _reject(f"{program!r} is not in this agent's exec allowlist")
        if resolved is None:
            raise CommandError(f"cannot start {program!r}: not found on {SAFE_PATH}", code=ErrorCode.EXEC_FAILED)
        return resolved


def _normalised_absolute(path: str) -> bool:
    return os.path.isabs(path) and not path.startswith("//") and os.path.normpath(path) == path


def _check_trusted_dir(cwd: str) -> None:
    """Refuse ``cwd`` unless it and every directory above it (symlinks resolved) only root or we can change."""
    if not _normalised_absolute(cwd):
        raise _reject(f"cwd {cwd!r} must be a normalised absolute path")
    real = os.path.realpath(cwd)
    me = os.geteuid()
    current = real
    while True:
        try:
            st = os.stat(current)
        except OSError as exc:
            raise CommandError(f"cwd {cwd!r}: {exc.strerror or exc}", code=ErrorCode.EXEC_FAILED) from None
        if not stat.S_ISDIR(st.st_mode):
            raise CommandError(f"cwd {cwd!r}: not a directory", code=ErrorCode.EXEC_FAILED)
        if st.st_uid not in (0, me) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise _reject(
                f"cwd {cwd!r} refused in allowlist mode: {current} can be changed by users other than root "
                "and the agent's; pass such paths as arguments instead"
            )
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent
