"""The one way of each common job (shared/): backoff, periodic passes, start/stop, configuration files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shared.backoff import Backoff
from shared.config_file import ConfigFileError, read_toml, resolve_path, resolve_secret
from shared.lifecycle import Lifecycle
from shared.periodic import Periodic


def test_backoff_doubles_up_to_its_cap_with_equal_jitter_and_resets() -> None:
    steady = Backoff(0.5, 4.0, jitter=False)
    assert [steady.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    steady.reset()
    assert steady.next() == 0.5
    jittered = Backoff(1.0, 8.0)
    for cap in (1.0, 2.0, 4.0, 8.0, 8.0):
        assert cap / 2 <= jittered.next() <= cap
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)


@pytest.mark.parametrize("run_at_start", [True, False])
def test_periodic_runs_until_stopped_and_survives_a_failing_pass(run_at_start: bool) -> None:
    passes: list[int] = []
    third = threading.Event()

    def work() -> None:
        passes.append(len(passes))
        if len(passes) == 1:
            raise RuntimeError("a database hiccup")
        if len(passes) == 3:
            third.set()

    periodic = Periodic("test", work, 0.01, run_at_start=run_at_start).start()
    assert periodic.running
    assert third.wait(10)
    periodic.stop()
    assert not periodic.running  # joined: no pass runs any more
    assert not Periodic("off", work, 0).start().running  # interval 0: nothing started


def test_periodic_waiting_first_runs_nothing_when_stopped_in_its_first_interval() -> None:
    passes: list[int] = []
    periodic = Periodic("slow", lambda: passes.append(1), 3600, run_at_start=False).start()
    periodic.stop()
    assert passes == []


def test_periodic_wake_runs_the_next_pass_now() -> None:
    ran = threading.Event()
    periodic = Periodic("woken", ran.set, 3600, run_at_start=False).start()
    periodic.wake()
    assert ran.wait(10)  # not an hour later
    periodic.stop()


def test_lifecycle_undoes_in_reverse_also_after_a_failed_step() -> None:
    done: list[str] = []
    life = Lifecycle()

    def start_a() -> None:
        life.on_stop("a", lambda: done.append("a"))

    def start_b() -> None:
        life.on_stop("b", lambda: done.append("b"))
        life.on_stop("b-broken", lambda: 1 / 0)  # logged, the rest still stops

    def start_c() -> None:
        raise OSError("port taken")

    with pytest.raises(OSError):
        life.start([start_a, start_b, start_c])
    assert life.current == "start_c"
    life.stop()
    assert done == ["b", "a"]
    life.stop()  # twice is harmless
    assert done == ["b", "a"]


def test_config_files_and_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="no such file"):
        read_toml(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("a = \n")
    with pytest.raises(ConfigFileError, match="not valid TOML"):
        read_toml(tmp_path / "bad.toml")
    (tmp_path / "bin.toml").write_bytes(b"a = '\xff'\n")
    with pytest.raises(ConfigFileError, match="UTF-8"):
        read_toml(tmp_path / "bin.toml")
    (tmp_path / "ok.toml").write_text('a = "b"\n')
    assert read_toml(tmp_path / "ok.toml") == {"a": "b"}

    assert resolve_path(tmp_path, "x/y") == tmp_path / "x/y"
    assert resolve_path(tmp_path, "/etc/z") == Path("/etc/z")
    assert resolve_path(tmp_path, None) is None

    (tmp_path / "pw").write_text("  s3cret \nsecond line\n")
    (tmp_path / "empty").write_text("\n \n")
    env = {"PW": "from-env"}
    assert resolve_secret(env, "PW", tmp_path / "pw", None, what="x.password_file") == "from-env"
    assert resolve_secret({}, "PW", tmp_path / "pw", None, what="x.password_file") == "s3cret"
    assert resolve_secret({}, "PW", None, "inline", what="x.password_file") == "inline"
    assert resolve_secret({}, "PW", None, None, what="x.password_file") is None
    with pytest.raises(ConfigFileError, match=r"give x\.password or x\.password_file, not both"):
        resolve_secret(env, "PW", tmp_path / "pw", "inline", what="x.password_file")
    with pytest.raises(ConfigFileError, match="is empty"):
        resolve_secret({}, "PW", tmp_path / "empty", None, what="x.password_file")
    with pytest.raises(ConfigFileError, match=r"x\.password_file"):
        resolve_secret({}, "PW", tmp_path / "nope", None, what="x.password_file")
