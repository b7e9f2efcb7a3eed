"""Configuration of enrolment: the LMS's ``[site_broker.dynsec]``, the agent's ``[enroll]``, and the topic
builders the broker ACLs are made of."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.agent.config import ConfigError as AgentConfigError
from edge.agent.config import parse_config as parse_agent_config
from edge.lms.config import DYNSEC_PASSWORD_ENV, ConfigError, parse_config
from edge.lms.enrolment.broker_credentials import agent_acls, lms_acls
from shared import topics
from shared.errors import TopicError

LMS_ENV = {"CLASSTOP_LMS_BROKER_PASSWORD": "lms-pw"}


def _lms(dynsec: dict[str, Any] | None, env: dict[str, str], base: Path, **extra: Any) -> Any:
    broker: dict[str, Any] = {"host": "10.0.0.2", "port": 8884, "tls": {}}
    if dynsec is not None:
        broker["dynsec"] = dynsec
    data = {"tenant": "demo", "site_id": "s1", "site_broker": broker, **extra}
    return parse_config(data, base_dir=base, env=env)


def test_without_dynsec_the_lms_is_as_before(tmp_path: Path) -> None:
    assert _lms(None, LMS_ENV, tmp_path).site_broker.dynsec is None


def test_dynsec_password_from_a_relative_file_and_admin_settings(tmp_path: Path) -> None:
    (tmp_path / "dynsec-pw").write_text("admin-pw\n")
    cfg = _lms({"username": "adm", "password_file": "dynsec-pw"}, LMS_ENV, tmp_path)
    dynsec = cfg.site_broker.dynsec
    assert dynsec.password_file == tmp_path / "dynsec-pw"
    assert dynsec.password.get_secret_value() == "admin-pw"
    admin = cfg.site_broker.dynsec_admin()
    assert (admin.host, admin.port, admin.username, admin.client_id) == ("10.0.0.2", 8884, "adm", "lms-dynsec")
    assert admin.tls == cfg.site_broker.tls  # the admin connection is TLS too
    assert admin.password.get_secret_value() == "admin-pw"
    # the LMS's own connection is unchanged
    assert cfg.site_broker.username == "lms" and cfg.site_broker.password.get_secret_value() == "lms-pw"


def test_the_dynsec_variable_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("from-file")
    cfg = _lms({"password_file": "f"}, {**LMS_ENV, DYNSEC_PASSWORD_ENV: "from-env"}, tmp_path)
    assert cfg.site_broker.dynsec.password.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("dynsec", "files", "message"),
    [
        ({}, {}, "no password for the dynamic-security admin"),
        ({"password_file": "missing"}, {}, "site_broker.dynsec.password_file"),
        ({"password_file": "empty"}, {"empty": "  \n"}, "is empty"),
        ({"usrname": "x"}, {}, "usrname"),
        ({"timeout_s": 0}, {}, "timeout_s"),
        ({"advertise_port": 70000}, {}, "advertise_port"),
    ],
)
def test_bad_dynsec_sections_are_clear_errors(
    tmp_path: Path, dynsec: dict[str, Any], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message):
        _lms(dynsec, LMS_ENV, tmp_path)


@pytest.mark.parametrize(
    ("broker", "dynsec", "advertised"),
    [
        ({"host": "10.0.0.2", "port": 8884, "tls": {}}, {}, ("10.0.0.2", 8884, True)),  # the LMS's own TLS port
        ({"host": "127.0.0.1", "port": 1883}, {}, ("127.0.0.1", 8883, True)),  # plain on loopback: agents get 8883
        ({"host": "127.0.0.1", "port": 1883}, {"advertise_host": "lms.school", "advertise_port": 9883},
         ("lms.school", 9883, True)),
        ({"host": "127.0.0.1", "port": 1883}, {"advertise_tls": False}, ("127.0.0.1", 1883, False)),
    ],
)  # fmt: skip
def test_the_broker_address_given_to_agents_is_tls_by_default(
    tmp_path: Path, broker: dict[str, Any], dynsec: dict[str, Any], advertised: tuple[str, int, bool]
) -> None:
    broker = {**broker, "dynsec": {**dynsec, "password": "x"}}
    cfg = parse_config({"tenant": "demo", "site_id": "s1", "site_broker": broker}, base_dir=tmp_path, env=LMS_ENV)
    assert cfg.site_broker.advertised() == advertised


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"site_broker": {"host": "10.0.0.2"}}, "plain MQTT to 10.0.0.2 would send the LMS's broker password"),
        ({"site_broker": {"dynsec": {"advertise_host": "10.0.0.2", "advertise_tls": False, "password": "x"}}},
         "advertise_tls = false would give agents plain MQTT to 10.0.0.2"),
        ({"http_host": "0.0.0.0", "http_tls": False}, "http_tls = false would serve the school LAN in clear"),
        ({"http_tls": False, "tls_cert_file": "c", "tls_key_file": "k"}, "tls_cert_file is for HTTPS"),
        ({"classtop_plain_http": {"host": "0.0.0.0", "port": 8000}}, "must differ from http_port"),
        ({"classtop_plain_http": {"port": 8080}}, "classtop_plain_http.host"),
        ({"site_tls": {"hosts": ["bad host"]}}, "not a host name or an IP address"),
        ({"site_tls": {"cert_days": 30, "renew_before_days": 30}}, "renew_before_days must be shorter"),
        ({"site_tls": {"cert_days": 9999}}, "site_tls.cert_days"),
    ],
)  # fmt: skip
def test_tls_settings_refuse_clear_text_on_the_lan(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"tenant": "demo", "site_id": "s1", **data}, base_dir=tmp_path, env=LMS_ENV)


def test_tls_defaults_and_paths(tmp_path: Path) -> None:
    cfg = parse_config({"tenant": "demo", "site_id": "s1", "db_path": "var/lms.db"}, base_dir=tmp_path, env=LMS_ENV)
    assert cfg.http_tls is True and cfg.classtop_plain_http is None  # HTTPS by default, even on loopback
    assert cfg.site_tls.dir == tmp_path / "var" / "site-ca"  # beside the database
    assert cfg.site_tls.broker_dir == tmp_path / "var" / "site-ca" / "broker"
    cfg = parse_config(
        {"tenant": "demo", "site_id": "s1", "http_tls": False, "classtop_plain_http": {"host": "0.0.0.0", "port": 8080},
         "site_tls": {"dir": "ca", "broker_dir": "/srv/broker-tls", "hosts": ["lms.school-1.lan", "192.168.1.10"]},
         "site_broker": {"host": "mosquitto", "port": 8883, "tls": {"ca_file": "my-ca.pem"}}},
        base_dir=tmp_path, env=LMS_ENV,
    )  # fmt: skip
    assert cfg.site_tls.dir == tmp_path / "ca" and cfg.site_tls.broker_dir == Path("/srv/broker-tls")
    assert cfg.site_broker.tls is not None and cfg.site_broker.tls.ca_file == tmp_path / "my-ca.pem"
    assert cfg.classtop_plain_http is not None and cfg.classtop_plain_http.port == 8080


CA_HASH = "sha256:" + "ab" * 32


def test_agent_enroll_section(tmp_path: Path) -> None:
    pinned = "SHA256:" + ":".join(["AB"] * 32)  # as openssl prints it
    data = {"agent_id": "room-1", "enroll": {"url": "https://lms:8000", "token_file": "token", "ca_hash": pinned}}
    cfg = parse_agent_config(data, base=tmp_path, env={})
    assert cfg.enroll is not None and cfg.enroll.token_file == tmp_path / "token"
    assert cfg.enroll.ca_hash == CA_HASH  # normalised
    assert cfg.credentials_path == cfg.state_dir / "credentials.json"
    assert cfg.mqtt.client_id == cfg.mqtt.username == "room-1"
    assert parse_agent_config({"agent_id": "room-1"}, env={}).enroll is None
    loopback = {"agent_id": "room-1", "enroll": {"url": "http://127.0.0.1:8000", "ca_hash": CA_HASH}}
    assert parse_agent_config(loopback, env={}).enroll is not None  # plain http:// on this machine only


@pytest.mark.parametrize(
    ("enroll", "message"),
    [
        ({"url": "lms:8000", "ca_hash": CA_HASH}, "enroll.url"),
        ({"url": "ftp://lms", "ca_hash": CA_HASH}, "enroll.url"),
        ({}, "enroll.url"),
        ({"url": "https://x", "ca_hash": CA_HASH, "extra": 1}, "enroll.extra"),
        ({"url": "https://lms:8000"}, "enroll.ca_hash: Field required"),
        ({"url": "https://lms:8000", "ca_hash": "ab" * 32}, "enroll.ca_hash"),
        ({"url": "https://lms:8000", "ca_hash": "sha256:abc"}, "enroll.ca_hash"),
        ({"url": "http://192.168.1.10:8000", "ca_hash": CA_HASH}, "would send the enrolment token in clear"),
    ],
)
def test_bad_agent_enroll_sections_are_clear_errors(enroll: dict[str, Any], message: str) -> None:
    with pytest.raises(AgentConfigError, match=message):
        parse_agent_config({"agent_id": "room-1", "enroll": enroll}, env={})


def test_acl_topic_builders() -> None:
    assert topics.agent_up_acl("a1") == "ct/agent/a1/up/#"
    assert topics.agent_down_acl("a1") == "ct/agent/a1/down/#"
    assert topics.site_broker_acl() == "ct/#"
    assert topics.dynsec_response() == topics.dynsec_control() + "/response"
    for bad in ("a/b", "+", "#", ""):
        with pytest.raises(TopicError):
            topics.agent_up_acl(bad)
        with pytest.raises(TopicError):
            topics.agent_down_acl(bad)


def test_an_agent_role_has_exactly_its_own_topics() -> None:
    assert agent_acls("a1") == [
        {"acltype": "publishClientSend", "topic": "ct/agent/a1/up/#", "allow": True},
        {"acltype": "subscribePattern", "topic": "ct/agent/a1/down/#", "allow": True},
        {"acltype": "publishClientReceive", "topic": "ct/agent/a1/down/#", "allow": True},
    ]
    assert {a["topic"] for a in lms_acls()} == {"ct/#"}
