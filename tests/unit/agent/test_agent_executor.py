"""The exec runner and its policy, with real processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.agent import config_structs
from edge.agent.config import ConfigError, ExecMode, parse_config
from edge.agent.config_models import ExecPolicy  # the pydantic model: its errors are asserted
from edge.agent.exec_env import SAFE_ENV, SAFE_PATH, UNSAFE_ENV
from edge.agent.executor import ExecResult, Executor
from edge.agent.workers import PoolFull, WorkerPool
from shared.commands import ExecParams
from shared.errors import CommandError, ErrorCode
from shared.messages.structs import build


def executor(mode: ExecMode = ExecMode.ANY, **policy: Any) -> Executor:
    return Executor(build(config_structs.ExecPolicy, mode=mode, **policy))


def run(ex: Executor | None = None, **params: Any) -> ExecResult:
    ex = ex or executor(kill_grace_s=0.5)
    return ex.run(ex.plan(ExecParams(**params)))


def alive(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie left for init to reap counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return False


# ---------------------------------------------------------------- running


def test_argv_runs_without_a_shell() -> None:
    result = run(argv=["echo", "a;b", "$HOME"])
    assert result.exit_code == 0 and result.stdout == "a;b $HOME\n"
    data = result.to_data()
    assert set(data) == {
        "exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "duration_ms", "timed_out",
    }
    assert data["timed_out"] is False and data["stdout_truncated"] is False


def test_cmd_runs_in_sh_and_reports_exit_code_and_stderr() -> None:
    result = run(cmd="echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.timed_out


def test_output_is_capped_per_stream_with_flags() -> None:
    result = run(cmd="head -c 100000 /dev/zero | tr '\\0' a; echo short >&2", output_limit=1000)
    assert len(result.stdout) == 1000 and result.stdout_truncated
    assert result.stderr == "short\n" and not result.stderr_truncated


def test_policy_cap_lowers_the_requested_limit() -> None:
    ex = executor(max_output_bytes=10)
    result = run(ex, cmd="echo 0123456789abcdef", output_limit=1000)
    assert result.stdout == "0123456789" and result.stdout_truncated


def test_large_output_on_both_streams_does_not_deadlock() -> None:
    started = time.monotonic()
    result = run(cmd="head -c 8000000 /dev/zero; head -c 8000000 /dev/zero >&2; echo done >&2", timeout_s=30)
    assert result.exit_code == 0 and not result.timed_out
    assert result.stdout_truncated and result.stderr_truncated
    assert time.monotonic() - started < 20


def test_cwd_env_and_minimal_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SECRET", "do-not-leak")
    result = run(argv=["sh", "-c", 'pwd; echo "$GREETING"; env'], cwd=str(tmp_path), env={"GREETING": "hello"})
    lines = result.stdout.splitlines()
    assert lines[0] == str(tmp_path) and lines[1] == "hello"
    names = {line.split("=", 1)[0] for line in lines[2:]}
    assert "AGENT_SECRET" not in names
    assert {"PATH", "HOME", "LANG", "GREETING"} <= names
    assert names <= {"PATH", "HOME", "LANG", "GREETING", "PWD", "SHLVL", "_"}  # the last three are sh's own


def test_stdin_is_fed_and_a_non_reader_does_not_hang() -> None:
    assert run(argv=["cat"], stdin="hello\n").stdout == "hello\n"
    assert run(argv=["true"], stdin="x" * 65536).exit_code == 0
    big = run(argv=["wc", "-c"], stdin="y" * 65536)
    assert big.stdout.strip() == "65536"
    assert run(argv=["cat"]).stdout == ""  # no stdin: /dev/null


def test_background_output_is_collected_until_the_pipes_close() -> None:
    result = run(cmd="(sleep 0.3; echo late) & echo early")
    assert result.stdout == "early\nlate\n" and not result.timed_out


def test_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    started = time.monotonic()
    result = run(cmd=f"sleep 100 & echo $! > {pidfile}; sleep 100 & echo $! >> {pidfile}; wait", timeout_s=1)
    assert result.timed_out and result.exit_code is not None and result.exit_code < 0
    assert time.monotonic() - started < 5
    pids = [int(x) for x in pidfile.read_text().split()]
    assert len(pids) == 2
    for pid in pids:
        assert wait_dead(pid), f"child {pid} survived the timeout"


def test_timeout_escalates_to_sigkill_when_term_is_ignored(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    ex = executor(kill_grace_s=0.3)
    started = time.monotonic()
    result = run(ex, cmd=f"trap '' TERM; sleep 100 & echo $! > {pidfile}; wait", timeout_s=0.5)
    assert result.timed_out
    assert 0.7 <= time.monotonic() - started < 5
    assert wait_dead(int(pidfile.read_text()))


def test_child_keeping_the_output_open_counts_against_the_timeout(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = run(cmd=f"sleep 100 & echo $! > {pidfile}; echo main-done", timeout_s=0.5)
    assert result.timed_out and result.exit_code == 0 and result.stdout == "main-done\n"
    assert wait_dead(int(pidfile.read_text()))


def test_start_failures_are_exec_failed(tmp_path: Path) -> None:
    ex = executor()
    with pytest.raises(CommandError) as info:
        run(ex, argv=["/nonexistent/program"])
    assert info.value.code is ErrorCode.EXEC_FAILED and "No such file" in info.value.message
    with pytest.raises(CommandError) as info:
        run(ex, argv=["true"], cwd=str(tmp_path / "missing"))
    assert info.value.code is ErrorCode.EXEC_FAILED


def test_abort_all_kills_running_commands(tmp_path: Path) -> None:
    ex = executor(kill_grace_s=0.3)
    results: list[ExecResult] = []
    thread = threading.Thread(target=lambda: results.append(run(ex, cmd="sleep 100", timeout_s=60)))
    thread.start()
    deadline = time.monotonic() + 5
    while ex.running == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ex.abort_all() == 1
    thread.join(5)
    assert results and results[0].aborted and not results[0].timed_out
    with pytest.raises(CommandError) as info:
        run(ex, argv=["true"])
    assert info.value.code is ErrorCode.BUSY


def test_abort_is_not_held_up_by_a_child_that_left_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    ex = executor(kill_grace_s=0.3)
    results: list[ExecResult] = []
    cmd = f"setsid sleep 30 & echo $! > {pidfile}; sleep 100"
    thread = threading.Thread(target=lambda: results.append(run(ex, cmd=cmd, timeout_s=120)))
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        ex.abort_all()
        thread.join(10)
        assert results and results[0].aborted
        assert time.monotonic() - started < 5
    finally:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


# ---------------------------------------------------------------- policy


def rejected(ex: Executor, **params: Any) -> str:
    with pytest.raises(CommandError) as info:
        ex.plan(ExecParams(**params))
    assert info.value.code is ErrorCode.REJECTED_BY_POLICY, info.value
    return info.value.message


def test_disabled_refuses_everything() -> None:
    ex = executor(ExecMode.DISABLED)
    assert "disabled" in rejected(ex, argv=["true"])
    assert "disabled" in rejected(ex, cmd="true")


def test_default_policy_is_allowlist_with_nothing_allowed() -> None:
    ex = Executor(config_structs.ExecPolicy())
    assert "empty" in rejected(ex, argv=["uptime"])


def test_allowlist_names_paths_and_regexes() -> None:
    ex = executor(ExecMode.ALLOWLIST, allowlist=["echo", "/usr/bin/id", r"re:printf (%s )?\S+"])
    assert run(ex, argv=["echo", "hi"]).stdout == "hi\n"
    assert run(ex, cmd="echo 'two words'").stdout == "two words\n"
    assert run(ex, argv=["/usr/bin/id", "-u"]).exit_code == 0
    assert run(ex, argv=["printf", "x"]).stdout == "x"
    assert "not in" in rejected(ex, argv=["/bin/echo", "hi"])  # a name does not match a path
    assert "not in" in rejected(ex, argv=["/tmp/evil/echo"])
    assert run(ex, argv=["id", "-u"]).exit_code == 0  # the name resolves (on the safe PATH) to the listed path
    assert "not in" in rejected(ex, argv=["/usr/bin/printf", "x"])  # a name entry does not admit a path
    assert "not in" in rejected(ex, argv=["printf", "a", "b", "c"])  # the regex must match the whole line
    assert "not in" in rejected(ex, argv=["rm", "-rf", "/"])


@pytest.mark.parametrize(
    "cmd", ["echo hi; rm -rf /", "echo $(id)", "echo `id`", "echo hi | sh", "echo hi > /etc/x", "echo *",
            "echo hi && id", "echo hi\nid", "FOO=1 echo hi"],
)
def test_allowlist_refuses_shell_syntax(cmd: str) -> None:
    ex = executor(ExecMode.ALLOWLIST, allowlist=["echo", "re:.*"])
    rejected(ex, cmd=cmd)


def test_timeout_above_the_limit_is_refused() -> None:
    ex = executor(max_timeout_s=10)
    assert "exceeds" in rejected(ex, argv=["true"], timeout_s=11)
    assert ex.plan(ExecParams(argv=["true"], timeout_s=10)).timeout_s == 10


def test_bad_environment_and_cwd_are_invalid_params() -> None:
    ex = executor()
    for params in ({"env": {"BAD-NAME": "x"}}, {"env": {"A": "x\0y"}}, {"cwd": "relative/dir"}):
        with pytest.raises(CommandError) as info:
            ex.plan(ExecParams(argv=["true"], **params))
        assert info.value.code is ErrorCode.INVALID_PARAMS


def test_any_mode_allows_shell() -> None:
    assert run(cmd="echo a | tr a b").stdout == "b\n"


# ---------------------------------------------------------------- worker pool


def test_pool_refuses_when_full_and_frees_slots() -> None:
    pool = WorkerPool(2)
    gate = threading.Event()
    futures = [pool.submit(gate.wait) for _ in range(2)]
    with pytest.raises(PoolFull):
        pool.submit(lambda: None)
    gate.set()
    for fut in futures:
        assert fut.result(5) is True
    deadline = time.monotonic() + 5
    while pool.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pool.submit(lambda: 42).result(5) == 42
    pool.close()
    with pytest.raises(PoolFull):
        pool.submit(lambda: None)


def test_pid_helper_sees_this_process() -> None:
    assert alive(os.getpid())


# ---------------------------------------------------------------- allowlist mode: what runs is what was checked


def attacker_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A directory holding an attacker's ``ls`` that leaves a marker when it runs: (directory, marker)."""
    bin_dir, marker = tmp_path / "evil-bin", tmp_path / "pwned"
    bin_dir.mkdir()
    script = bin_dir / "ls"
    script.write_text(f"#!/bin/sh\necho pwned > {marker}\necho pwned\n")
    script.chmod(0o755)
    return bin_dir, marker


def test_exec_allowlist_refuses_dangerous_env(tmp_path: Path) -> None:
    """An operator limited to ``ls`` sends PATH=<its directory>: the agent must not run the attacker's ``ls``."""
    from tests.unit.agent.test_agent_dispatcher import Harness

    bin_dir, marker = attacker_dir(tmp_path)
    h = Harness(tmp_path, build(config_structs.ExecPolicy, mode=ExecMode.ALLOWLIST, allowlist=["ls"],
                                kill_grace_s=0.2))
    try:
        attacks: list[dict[str, Any]] = [
            {"argv": ["ls"], "env": {"PATH": str(bin_dir)}},
            {"cmd": "ls", "env": {"PATH": str(bin_dir)}},
            {"argv": ["ls"], "env": {"LD_PRELOAD": str(bin_dir / "evil.so")}},
            {"argv": ["ls"], "env": {"LD_LIBRARY_PATH": str(bin_dir)}},
            {"argv": ["ls"], "env": {"PYTHONPATH": str(bin_dir)}},
            {"argv": ["ls"], "env": {"BASH_ENV": str(bin_dir / "rc")}},
            {"argv": ["ls"], "env": {"HOME": str(bin_dir)}},
            {"argv": ["ls"], "env": {"GCONV_PATH": str(bin_dir)}},
            {"argv": ["ls"], "env": {"NODE_OPTIONS": "--require /tmp/x.js"}},
        ]
        for n, params in enumerate(attacks):
            response = h.call("exec", params, rid=f"attack-{n}")
            assert not marker.exists(), f"the attacker's ls ran for {params}"
            assert not response.success, f"{params} was accepted: {response.data}"
            assert response.error_code == "rejected_by_policy", response
            name = next(iter(params["env"]))
            assert name in (response.error or ""), response.error
        # the same program without the variable runs (the real ls, found on the safe PATH)
        ok = h.call("exec", {"argv": ["ls", "-d", "/"], "env": {"LANG": "C.UTF-8"}}, rid="plain")
        assert ok.success and ok.data["stdout"] == "/\n"
    finally:
        h.executor.abort_all(0.2)
        h.pool.close()


def test_allowlist_resolves_names_on_the_safe_path_whatever_the_agents_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir, marker = attacker_dir(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    ex = executor(ExecMode.ALLOWLIST, allowlist=["ls"])
    plan = ex.plan(ExecParams(argv=["ls", "-d", "/"]))
    assert plan.argv[0] in {f"{d}/ls" for d in SAFE_PATH.split(":")} and plan.env["PATH"] == SAFE_PATH
    assert ex.run(plan).stdout == "/\n" and not marker.exists()


def test_allowlist_compares_the_resolved_absolute_path() -> None:
    ls_path = shutil.which("ls", path=SAFE_PATH)
    assert ls_path is not None
    ex = executor(ExecMode.ALLOWLIST, allowlist=[ls_path])
    assert run(ex, argv=["ls", "-d", "/"]).stdout == "/\n"  # the name resolves to the listed path
    assert run(ex, cmd="ls -d /").stdout == "/\n"
    assert "not in" in rejected(ex, argv=["dir"])


def test_allowlist_refuses_relative_and_unnormalised_programs(tmp_path: Path) -> None:
    bin_dir, marker = attacker_dir(tmp_path)
    ex = executor(ExecMode.ALLOWLIST, allowlist=[r"re:\S*ls( \S+)*", r"re:/usr/bin/\S+"])
    for program in ["./ls", "evil-bin/ls", "../evil-bin/ls", "/usr/bin/../../" + str(bin_dir)[1:] + "/ls",
                    "/usr/bin/./ls", "//usr/bin/ls"]:
        assert "program" in rejected(ex, argv=[program], cwd="/"), program
        assert "program" in rejected(ex, cmd=program), program
    assert not marker.exists()


def test_allowlist_refuses_a_cwd_others_can_write(tmp_path: Path) -> None:
    """An allowed ``python3 -m`` imports from its working directory: a writable one would run anyone's code."""
    bin_dir, marker = attacker_dir(tmp_path)
    (bin_dir / "report.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    ex = executor(ExecMode.ALLOWLIST, allowlist=["ls", "re:python3 -m report"])
    for cwd in ["/tmp", str(tmp_path), str(bin_dir), "/usr/../tmp", "relative"]:
        with pytest.raises(CommandError) as info:
            ex.plan(ExecParams(argv=["python3", "-m", "report"], cwd=cwd))
        assert info.value.code in {ErrorCode.REJECTED_BY_POLICY, ErrorCode.INVALID_PARAMS}, cwd
        assert "cwd" in info.value.message, cwd
    assert not marker.exists()
    assert run(ex, argv=["ls", "-d", "."], cwd="/").stdout == ".\n"
    assert run(executor(), argv=["ls"], cwd=str(bin_dir)).stdout == "ls\nreport.py\n"  # any mode: as given


def test_allowlist_env_takes_harmless_names_and_the_owners(monkeypatch: pytest.MonkeyPatch) -> None:
    ex = executor(ExecMode.ALLOWLIST, allowlist=["env"], env_allowlist=["BACKUP_TARGET"])
    env = {"LANG": "de_DE.UTF-8", "LC_TIME": "C", "TZ": "Europe/Berlin", "TERM": "xterm-256color",
           "COLUMNS": "120", "BACKUP_TARGET": "nas-1"}
    out = run(ex, argv=["env"], env=env).stdout.splitlines()
    assert {f"{k}={v}" for k, v in env.items()} <= set(out)
    assert f"PATH={SAFE_PATH}" in out
    assert "GREETING" in rejected(ex, argv=["env"], env={"GREETING": "hi"})  # not listed: refused
    for name, value in [("LANG", "../../tmp/x"), ("LC_ALL", "/tmp/locale"), ("TZ", "/tmp/tzfile"),
                        ("TZ", ":/tmp/tzfile"), ("TZ", "../../../tmp/tz"), ("TERM", "../x"), ("COLUMNS", "x")]:
        assert name in rejected(ex, argv=["env"], env={name: value}), (name, value)


@pytest.mark.parametrize("name", ["PATH", "LD_PRELOAD", "ld_library_path", "PYTHONSTARTUP", "PERL5OPT", "HOME",
                                  "BASH_ENV", "ENV", "IFS", "NODE_OPTIONS", "GCONV_PATH", "GIT_SSH_COMMAND",
                                  "PAGER", "https_proxy", "GLIBC_TUNABLES", "LANG"])
def test_owner_cannot_open_dangerous_env_names(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        ExecPolicy(env_allowlist=[name])
    assert f"env_allowlist entry {name!r} cannot be allowed" in str(info.value)


def test_allowlist_cmd_runs_its_words_without_a_shell() -> None:
    ex = executor(ExecMode.ALLOWLIST, allowlist=["echo", "eval"])
    assert ex.plan(ExecParams(cmd="echo 'two words'")).argv == [shutil.which("echo", path=SAFE_PATH), "two words"]
    with pytest.raises(CommandError) as info:  # a shell builtin is not a program: nothing can stand in for it
        ex.plan(ExecParams(cmd="eval id"))
    assert info.value.code is ErrorCode.EXEC_FAILED and "not found" in info.value.message


def test_built_in_env_names_are_not_unsafe_and_the_config_refuses_unsafe_ones() -> None:
    assert not [name for name in SAFE_ENV if UNSAFE_ENV.fullmatch(name)]
    with pytest.raises(ConfigError, match="LD_PRELOAD"):
        parse_config({"agent_id": "pc-1", "mqtt": {"host": "h"}, "exec": {"env_allowlist": ["LD_PRELOAD"]}})
