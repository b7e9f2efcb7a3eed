"""The LMS configuration: strict, bounded, with the password from the environment or a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.lms.config import PASSWORD_ENV, ConfigError, load_config, parse_config

MINIMAL = """
tenant = "demo"
site_id = "school-1"

[site_broker]
port = 1883
"""

ENV = {PASSWORD_ENV: "s3cret"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lms.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env=ENV)
    assert (cfg.http_host, cfg.http_port) == ("127.0.0.1", 8000)
    assert cfg.site_heartbeat_s == 300
    assert cfg.site_broker.username == "lms" and cfg.site_broker.client_id == "lms"
    assert cfg.site_broker.password is not None and cfg.site_broker.password.get_secret_value() == "s3cret"
    assert cfg.db_path == tmp_path / "lms.db"  # relative to the config file
    assert cfg.cloud is None
    assert cfg.thing_name == "ct--demo--dev--school-1"


def test_cloud_section_and_client_id_default_to_the_thing_name(tmp_path: Path) -> None:
    text = MINIMAL + '\n[cloud]\nhost = "127.0.0.1"\nport = 1884\n'
    cfg = load_config(write(tmp_path, text), env=ENV)
    assert cfg.cloud is not None and cfg.cloud.tls is None and cfg.cloud.port == 1884
    assert cfg.cloud_client_id == "ct--demo--dev--school-1"


def test_tls_files_are_resolved_and_must_exist(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    text = MINIMAL + (
        '\n[cloud]\nhost = "abc-ats.iot.eu-west-1.amazonaws.com"\n'
        '[cloud.tls]\nca_file = "ca.pem"\ncert_file = "cert.pem"\nkey_file = "key.pem"\n'
    )
    cfg = load_config(write(tmp_path, text), env=ENV)
    assert cfg.cloud is not None and cfg.cloud.tls is not None
    assert cfg.cloud.tls.cert_file == tmp_path / "cert.pem" and cfg.cloud.port == 8883
    (tmp_path / "key.pem").unlink()
    with pytest.raises(ConfigError, match=r"cloud\.tls\.key_file: no such file"):
        load_config(write(tmp_path, text), env=ENV)


def test_password_from_a_file_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    text = MINIMAL + 'password_file = "pw"\n'
    cfg = load_config(write(tmp_path, text), env={})
    assert cfg.site_broker.password is not None and cfg.site_broker.password.get_secret_value() == "from-file"
    cfg = load_config(write(tmp_path, text), env=ENV)
    assert cfg.site_broker.password is not None and cfg.site_broker.password.get_secret_value() == "s3cret"


def test_missing_password_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        load_config(write(tmp_path, MINIMAL), env={})
    with pytest.raises(ConfigError, match="password_file"):
        load_config(write(tmp_path, MINIMAL + 'password_file = "nope"\n'), env={})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tenant": "Demo!"}, "tenant"),
        ({"site_id": "a/b"}, "site_id"),
        ({"surprise": 1}, "surprise"),
        ({"http_port": 70000}, "http_port"),
        ({"presence_timeout_s": 0}, "presence_timeout_s"),
        ({"command_timeout_s": -1}, "command_timeout_s"),
        ({"site_broker": {"port": 1883, "colour": "red"}}, "site_broker.colour"),
        ({"cloud": {"port": 8883}}, "cloud.host"),
        ({"cloud": {"host": "h", "keepalive_s": 1}}, "cloud.keepalive_s"),
        ({"cloud": {"host": "h", "tls": {"cert_file": "c"}}}, "cloud.tls.key_file"),
        ({"log_level": "LOUD"}, "log_level"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, change: dict[str, object], message: str) -> None:
    data: dict[str, object] = {"tenant": "demo", "site_id": "school-1", "site_broker": {"port": 1883}, **change}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, base_dir=tmp_path, env=ENV)


def test_unreadable_or_non_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml", env=ENV)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "tenant = \n"), env=ENV)


def test_the_shipped_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[3] / "edge" / "lms" / "lms.example.toml"
    copy = tmp_path / "lms.toml"
    copy.write_text(example.read_text())
    (tmp_path / "certs").mkdir()
    for name in ("AmazonRootCA1.pem", "site.cert.pem", "site.private.key"):
        (tmp_path / "certs" / name).write_text("x")
    cfg = load_config(copy, env=ENV)
    assert cfg.cloud is not None and cfg.cloud.tls is not None
    assert cfg.cloud_client_id == "ct--demo--dev--school-1"


@pytest.mark.parametrize(
    ("cloud", "message"),
    [
        ({"keepalive_s": 29}, "keepalive_s: .* outside 30-1200 s, the keep-alive IoT Core accepts"),
        ({"keepalive_s": 5}, "keepalive_s: .* outside 30-1200 s, the keep-alive IoT Core accepts"),
        ({"keepalive_s": 1201}, "keepalive_s: .* outside 30-1200 s, the keep-alive IoT Core accepts"),
        ({"session_expiry_s": 7 * 86400 + 1}, "session_expiry_s"),
        ({"client_id": "é" * 65}, "client_id: .*IoT Core accepts a client id of 1-128 bytes"),
        ({"client_id": ""}, "client_id"),
    ],
)
def test_cloud_link_stays_within_iot_core_limits(tmp_path: Path, cloud: dict[str, object], message: str) -> None:
    data = {"tenant": "demo", "site_id": "school-1", "site_broker": {"port": 1883}, "cloud": {"host": "h", **cloud}}
    with pytest.raises(ConfigError, match=message):
        parse_config(data, base_dir=tmp_path, env=ENV)
    ok = {**data, "cloud": {"host": "h", "keepalive_s": 30, "client_id": "ct--demo--dev--school-1"}}
    assert parse_config(ok, base_dir=tmp_path, env=ENV).cloud is not None


def test_classtop_section_defaults_and_bounds(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env=ENV)
    c = cfg.classtop
    assert c.client_policy == "approval"  # like the cloud's: a new ClassTop client waits for a site admin
    assert (c.max_clients, c.max_pending, c.max_connections, c.max_connections_per_address) == (2000, 200, 2000, 16)
    assert (c.connects_per_minute, c.requests_per_minute, c.frames_per_second) == (60, 120, 60.0)
    text = MINIMAL.replace("[site_broker]", '[classtop]\nclient_policy = "open"\nmax_clients = 50\n\n[site_broker]')
    assert load_config(write(tmp_path, text), env=ENV).classtop.client_policy == "open"
    for bad, why in (('client_policy = "closed"', "client_policy"), ("max_connections = 0", "max_connections"),
                     ("max_pending = 0", "max_pending"), ("frames_per_second = -1", "frames"),
                     ("ws_max_size = 99", "ws_max_size")):  # fmt: skip
        text = MINIMAL.replace("[site_broker]", f"[classtop]\n{bad}\n\n[site_broker]")
        with pytest.raises(ConfigError, match=why):
            load_config(write(tmp_path, text), env=ENV)


def test_the_camera_notice_is_empty_by_default_and_bounded(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL), env=ENV).console.camera_notice == ""
    text = MINIMAL.replace("[site_broker]", '[console]\ncamera_notice = "Every view is logged."\n\n[site_broker]')
    assert load_config(write(tmp_path, text), env=ENV).console.camera_notice == "Every view is logged."
    for bad in ('"' + "x" * 2001 + '"', "42"):
        text = MINIMAL.replace("[site_broker]", f"[console]\ncamera_notice = {bad}\n\n[site_broker]")
        with pytest.raises(ConfigError, match="camera_notice"):
            load_config(write(tmp_path, text), env=ENV)
