"""``MosquittoProcess(template="site-dynsec")``: the site broker with the dynamic-security plugin."""

from __future__ import annotations

import json
import os
import pwd
import stat
from pathlib import Path

import pytest

from infra.local.mosquitto import MosquittoProcess
from tests.fixtures.brokers import ConnectRefused
from tests.integration.enrollment.conftest import ADMIN_USER, DynsecBroker

pytestmark = pytest.mark.integration


def test_the_plugin_file_is_created_once_for_the_broker_user(dynsec_broker: DynsecBroker) -> None:
    path = dynsec_broker.process.dynsec_file
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    if os.geteuid() == 0:
        assert info.st_uid == pwd.getpwnam("mosquitto").pw_uid
    users = [c["username"] for c in json.loads(path.read_text())["clients"]]
    assert users == [ADMIN_USER]
    assert "plugin_opt_config_file " + str(path) in dynsec_broker.process.config_path.read_text()


def test_only_the_admin_gets_in_and_it_cannot_use_classtop_topics(dynsec_broker: DynsecBroker) -> None:
    with pytest.raises(ConnectRefused):
        dynsec_broker.client(None)
    with pytest.raises(ConnectRefused):
        dynsec_broker.client(ADMIN_USER, "wrong")
    admin = dynsec_broker.client(ADMIN_USER, dynsec_broker.admin_password)
    admin.subscribe("ct/agent/x/up/status")
    admin.subscribe("$CONTROL/dynamic-security/v1/response")
    admin.publish("ct/agent/x/up/status", b"denied")  # publishClientSend is not granted to the admin role
    admin.publish("$CONTROL/dynamic-security/v1", json.dumps({"commands": [{"command": "listRoles"}]}))
    reply = admin.wait_for("$CONTROL/dynamic-security/v1/response")
    assert json.loads(reply.payload)["responses"][0]["command"] == "listRoles"
    assert "ct/agent/x/up/status" not in admin.topics()


def test_a_restart_keeps_the_file_and_its_changes(dynsec_broker: DynsecBroker) -> None:
    service = dynsec_broker.credentials()
    try:
        service.issue("a1")
    finally:
        service.stop()
    before = dynsec_broker.process.dynsec_file.read_text()
    dynsec_broker.process.stop()
    dynsec_broker.process.start()
    assert dynsec_broker.process.dynsec_file.read_text() == before
    assert "a1" in [c["username"] for c in json.loads(before)["clients"]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"template": "site-dynsec"},
        {"template": "site-dynsec", "dynsec_admin": ("admin", "pw"), "users": {"x": "y"}},
        {"template": "site-dynsec", "dynsec_admin": ("admin", "pw"), "acl_text": "topic #"},
        {"template": "site-dynsec", "dynsec_admin": ("bad:name", "pw")},
        {"template": "site", "dynsec_admin": ("admin", "pw")},
    ],
)
def test_bad_dynsec_arguments_are_refused(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MosquittoProcess(tmp_path, **kwargs)  # type: ignore[arg-type]
