"""Configuration of enrolment: the LMS's ``[site_broker.dynsec]``, the agent's ``[enroll]``, and the topic
builders the broker ACLs are made of."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.agent.config import ConfigError as AgentConfigError
from edge.agent.config import parse_config as parse_agent_config
from edge.lms.config import DYNSEC_PASSWORD_ENV, ConfigError, parse_config
from edge.lms.credentials import agent_acls, lms_acls
from shared import topics
from shared.errors import TopicError

LMS_ENV = {"CLASSTOP_LMS_BROKER_PASSWORD": "lms-pw"}


def _lms(dynsec: dict[str, Any] | None, env: dict[str, str], base: Path) -> Any:
    broker: dict[str, Any] = {"host": "10.0.0.2", "port": 1884}
    if dynsec is not None:
        broker["dynsec"] = dynsec
    return parse_config({"tenant": "demo", "site_id": "s1", "site_broker": broker}, base_dir=base, env=env)


def test_without_dynsec_the_lms_is_as_before(tmp_path: Path) -> None:
    assert _lms(None, LMS_ENV, tmp_path).site_broker.dynsec is None


def test_dynsec_password_from_a_relative_file_and_admin_settings(tmp_path: Path) -> None:
    (tmp_path / "dynsec-pw").write_text("admin-pw\n")
    cfg = _lms({"username": "adm", "password_file": "dynsec-pw"}, LMS_ENV, tmp_path)
    dynsec = cfg.site_broker.dynsec
    assert dynsec.password_file == tmp_path / "dynsec-pw"
    assert dynsec.password.get_secret_value() == "admin-pw"
    admin = cfg.site_broker.dynsec_admin()
    assert (admin.host, admin.port, admin.username, admin.client_id) == ("10.0.0.2", 1884, "adm", "lms-dynsec")
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


def test_agent_enroll_section(tmp_path: Path) -> None:
    data = {"agent_id": "room-1", "enroll": {"url": "http://lms:8000", "token_file": "token"}}
    cfg = parse_agent_config(data, base=tmp_path, env={})
    assert cfg.enroll is not None and cfg.enroll.token_file == tmp_path / "token"
    assert cfg.credentials_path == cfg.state_dir / "credentials.json"
    assert cfg.mqtt.client_id == cfg.mqtt.username == "room-1"
    assert parse_agent_config({"agent_id": "room-1"}, env={}).enroll is None


@pytest.mark.parametrize("enroll", [{"url": "lms:8000"}, {"url": "ftp://lms"}, {}, {"url": "http://x", "extra": 1}])
def test_bad_agent_enroll_sections_are_clear_errors(enroll: dict[str, Any]) -> None:
    with pytest.raises(AgentConfigError, match="enroll"):
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
