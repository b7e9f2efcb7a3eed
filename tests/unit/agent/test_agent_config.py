"""The agent's configuration file: defaults, bounds, password sources, and clear errors (no tracebacks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.agent.config import PASSWORD_ENV, ConfigError, ExecMode, load_config, parse_config

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_gets_safe_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'agent_id = "pc-1"\n'), env={})
    assert config.agent_id == "pc-1"
    assert config.mqtt.client_id == "pc-1" and config.mqtt.username == "pc-1"
    assert config.mqtt.password is None
    assert config.heartbeat_s == 5 and config.metrics_s == 15
    # Safe default: allowlist mode with nothing listed = no remote command runs.
    assert config.exec.mode is ExecMode.ALLOWLIST and config.exec.allowlist == []


def test_full_file(tmp_path: Path) -> None:
    text = """
agent_id = "room-101"
heartbeat_s = 2
metrics_s = 30
state_dir = "state"

[mqtt]
host = "10.0.0.5"
port = 8884
username = "custom-user"
tls = { ca_file = "site-ca.pem" }

[exec]
mode = "any"
allowlist = ["uptime", "/usr/bin/df", "re:ls( -l)?"]
max_output_bytes = 1000
max_timeout_s = 60
max_concurrent = 2

[log]
level = "DEBUG"
"""
    config = load_config(write(tmp_path, text), env={})
    assert config.mqtt.host == "10.0.0.5" and config.mqtt.port == 8884
    assert config.mqtt.tls is not None and config.mqtt.tls.ca_file == tmp_path / "site-ca.pem"  # relative
    assert config.mqtt.username == "custom-user" and config.mqtt.client_id == "room-101"
    assert config.state_dir == tmp_path / "state"  # relative to the config file
    assert config.exec.max_concurrent == 2 and config.log.level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('agent_id = "bad/id"', "agent_id"),
        ('agent_id = "+"', "agent_id"),
        ("heartbeat_s = 5", "agent_id: Field required"),
        ('agent_id = "a"\nheartbeat_s = 0', "heartbeat_s"),
        ('agent_id = "a"\nmetrics_s = -1', "metrics_s"),
        ('agent_id = "a"\nsurprise = 1', "surprise: Extra inputs are not permitted"),
        ('agent_id = "a"\n[mqtt]\nport = 70000', "mqtt.port"),
        ('agent_id = "a"\n[mqtt]\nhots = "x"', "mqtt.hots"),
        ('agent_id = "a"\n[mqtt]\nhost = "10.0.0.5"', "plain MQTT to 10.0.0.5 would send the broker password"),
        ('agent_id = "a"\n[exec]\nmode = "sometimes"', "exec.mode"),
        ('agent_id = "a"\n[exec]\nallowlist = ["re:("]', "bad regular expression"),
        ('agent_id = "a"\n[exec]\nallowlist = ["rm -rf"]', "allowlist entry"),
        ('agent_id = "a"\n[exec]\nmax_concurrent = 0', "exec.max_concurrent"),
        ('agent_id = "a"\n[exec]\nmax_output_bytes = 100000000', "exec.max_output_bytes"),
        ('agent_id = "a"\n[log]\nlevel = "LOUD"', "log.level"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert expected in str(info.value)
    assert str(tmp_path / "agent.toml") in str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "agent_id = \n"), env={})
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml", env={})


def test_password_sources(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    text = 'agent_id = "a"\n[mqtt]\npassword_file = "pw"\n'
    path = write(tmp_path, text)
    from_file = load_config(path, env={}).mqtt.password
    assert from_file is not None and from_file.get_secret_value() == "from-file"
    from_env = load_config(path, env={PASSWORD_ENV: "from-env"}).mqtt.password
    assert from_env is not None and from_env.get_secret_value() == "from-env"
    # The secret never shows in the model's repr.
    assert "from-env" not in repr(load_config(path, env={PASSWORD_ENV: "from-env"}))


def test_password_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="password_file"):
        load_config(write(tmp_path, 'agent_id = "a"\n[mqtt]\npassword_file = "nope"\n'), env={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(write(tmp_path, 'agent_id = "a"\n[mqtt]\npassword_file = "empty"\n'), env={})
    (tmp_path / "pw").write_text("x")
    with pytest.raises(ConfigError, match="not both"):
        load_config(write(tmp_path, 'agent_id = "a"\n[mqtt]\npassword_file = "pw"\npassword = "y"\n'), env={})


def test_parse_config_without_a_file() -> None:
    config = parse_config({"agent_id": "a", "exec": {"mode": "disabled"}}, env={})
    assert config.exec.mode is ExecMode.DISABLED
    with pytest.raises(ConfigError, match="mqtt"):
        parse_config({"agent_id": "a", "mqtt": "nope"}, env={})


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.agent", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_cli_validate_config(tmp_path: Path) -> None:
    ok = run_cli("--config", str(write(tmp_path, 'agent_id = "pc-1"\n')), "--validate-config")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK")

    bad = run_cli("--config", str(write(tmp_path, 'agent_id = "pc-1"\n[exec]\nmode = 3\n')), "--validate-config")
    assert bad.returncode == 2
    assert "exec.mode" in bad.stderr and "Traceback" not in bad.stderr

    missing = run_cli("--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr

    garbage = tmp_path / "garbage.toml"
    garbage.write_bytes(b"\xff\xfe\x00[[[")
    result = run_cli("--config", str(garbage), "--validate-config")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_the_shipped_example_is_valid() -> None:
    config = load_config(REPO / "edge" / "agent" / "agent.example.toml", env={PASSWORD_ENV: "x"})
    assert config.exec.mode is ExecMode.ALLOWLIST and len(config.exec.allowlist) == 3


def test_cli_start_up_failure_is_a_clear_message(tmp_path: Path) -> None:
    path = write(tmp_path, 'agent_id = "pc-1"\nstate_dir = "/dev/null/state"\n')
    result = run_cli("--config", str(path))
    assert result.returncode == 1
    assert "start-up failed" in result.stderr and "Traceback" not in result.stderr


def test_outbox_classtop_and_process_sections(tmp_path: Path) -> None:
    text = (
        'agent_id = "pc-1"\nstate_dir = "state"\n[exec]\nmax_queued = 3\n[outbox]\nmax_items = 50\n'
        '[classtop]\nimport_path = "client/classtop.db"\nsync_interval_s = 60\n[processes]\ninterval_s = 0\n'
    )
    config = load_config(write(tmp_path, text), env={})
    assert config.exec.max_queued == 3 and config.outbox.max_items == 50
    assert config.classtop.import_path == tmp_path / "client" / "classtop.db"  # relative to the file
    assert config.classtop.sync_interval_s == 60 and config.processes.interval_s == 0
    assert config.outbox_path == tmp_path / "state" / "outbox.log"
    defaults = load_config(write(tmp_path, 'agent_id = "pc-1"\n'), env={})
    assert defaults.classtop.import_path is None and defaults.classtop.sync_interval_s == 300
    for bad, field in (("[outbox]\nmax_items = 0", "outbox.max_items"),
                       ("[classtop]\nsync_interval_s = 1", "classtop.sync_interval_s"),
                       ("[processes]\ntop = 0", "processes.top"), ("[classtop]\npath = 'x'", "classtop.path"),
                       ("[processes]\ninterval_s = 0.5", "processes.interval_s")):
        with pytest.raises(ConfigError, match=field):
            load_config(write(tmp_path, f'agent_id = "pc-1"\n{bad}\n'), env={})
