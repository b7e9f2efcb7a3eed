"""The LMS's own configuration from the cloud, across all tiers (the local twin): cloud API ``PUT
/api/lms/{site_id}/config`` (desired, in the site thing's ``lms:config`` shadow) -> the twin's IoT Core shadow
service (``update/documents``) -> the LMS applies it live (the same process: no restart) and reports it -> the cloud
shows desired == reported with ``config_status``. An invalid document is rejected whole and reported; one written
straight into the shadow (a compromised cloud account) with bad types or local-only keys too. Restarted without the
cloud the LMS keeps the last applied configuration; started for the first time with the cloud unreachable it runs
on its local file.

The exec policy makes the configuration in effect observable from outside: ``exec_policy = "disabled"`` makes the
LMS refuse an ``exec`` asked through its own API (the twin's agents would run it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local import toml_writer
from infra.local.ports import free_port
from infra.local.process import ChildProcess, wait_for
from infra.local.twin import Twin
from shared import topics
from shared.messages.lms_config import lms_config_update
from shared.mqtt import MqttClient
from shared.names import Namespace
from shared.topics import ShadowOp
from tests.e2e.test_shadow_settings import call, eventually

pytestmark = pytest.mark.e2e

AGENTS = ("cfg-1",)


def lms_config(twin: Twin) -> dict[str, Any]:
    status, body = call(f"{twin.api_url}/api/lms/{twin.opt.site_id}/config", twin.admin_token)
    assert status == 200, body
    data: dict[str, Any] = body.get("data", body)
    return data


def put_config(twin: Twin, config: dict[str, Any]) -> tuple[int, Any]:
    return call(f"{twin.api_url}/api/lms/{twin.opt.site_id}/config", twin.admin_token, "PUT", {"config": config})


def exec_refused(twin: Twin) -> bool | None:
    """Whether the LMS refuses an ``exec`` by its policy (``None``: the LMS did not answer)."""
    try:
        status, body = call(f"{twin.lms_url}/api/clients/{AGENTS[0]}/command", twin.lms_token, "POST",
                            {"command": "exec", "params": {"cmd": "true"}}, twin.lms_ssl_context())  # fmt: skip
    except OSError:
        return None
    if status == 200 and body.get("success"):
        return False
    return "rejected_by_policy" in json.dumps(body)


def status_of(twin: Twin) -> dict[str, Any]:
    return lms_config(twin).get("status") or {}


def test_a_change_applies_without_restart(twin: Twin) -> None:
    assert twin.lms is not None
    pid = twin.lms.pid
    eventually(lambda: status_of(twin).get("state") == "local", what="the LMS reporting its local file")
    assert exec_refused(twin) is False

    status, body = put_config(twin, {"exec_policy": "disabled", "site_heartbeat_s": 3,
                                     "classtop": {"client_policy": "open"}})  # fmt: skip
    assert status == 200, body
    view = eventually(lambda: (v := lms_config(twin))["pending"] == {} and status_of(twin).get("state") == "applied"
                      and v, what="the LMS applying and reporting the configuration")  # fmt: skip
    assert view["reported"]["site_heartbeat_s"] == 3 and view["reported"]["classtop"]["client_policy"] == "open"
    assert view["status"]["config_version"] == f"cloud:{view['status']['version']}"
    assert twin.lms_api("/api/health")["data"]["cloud"]["config_version"] == view["status"]["config_version"]
    assert exec_refused(twin) is True  # in force in the running LMS ...
    assert twin.lms.pid == pid and twin.lms.alive  # ... which was not restarted
    # the site heartbeat carries the configuration version to the cloud
    eventually(lambda: call(f"{twin.api_url}/api/lms/{twin.opt.site_id}", twin.admin_token)[1]["data"]
               .get("lms_config_version") == view["status"]["config_version"], what="the version in the heartbeat")


def test_an_invalid_change_is_rejected_whole_and_reported(twin: Twin) -> None:
    before = eventually(lambda: (v := lms_config(twin)).get("status", {}).get("state") == "applied" and v,
                        what="an applied configuration")  # fmt: skip
    # in the types the cloud checks, out of the LMS's bounds: the whole document is refused, nothing half-applied
    status, body = put_config(twin, {"site_heartbeat_s": 7, "presence_timeout_s": 1e9})
    assert status == 200, body
    rejected = eventually(lambda: (s := status_of(twin)).get("state") == "rejected" and s, what="the rejection")
    assert "presence_timeout_s" in rejected["reason"]
    view = lms_config(twin)
    assert view["reported"]["site_heartbeat_s"] == before["reported"]["site_heartbeat_s"] == 3
    assert view["pending"] == {"site_heartbeat_s": 7, "presence_timeout_s": 1e9}
    assert exec_refused(twin) is True  # the previous configuration stays in force

    # bad input at the cloud API: a clear 400, nothing stored
    for bad in ({"site_heartbeat_s": "3"}, {"cloud": {"host": "evil.example"}}, {"site_broker": {"port": 1}}, {}):
        status, body = put_config(twin, bad)
        assert status == 400, (bad, body)
    assert lms_config(twin)["desired"] == view["desired"]

    # a compromised cloud writer puts bad types and a local-only key straight into the shadow: rejected, reported
    ns = Namespace(twin.opt.tenant, twin.opt.stage)
    thing = topics.site_thing_name(ns, twin.opt.site_id)
    assert twin.cloud_broker is not None
    # (a cloud-side identity of the IoT Core stand-in: a site's certificate may not write desired state at all)
    writer = MqttClient(twin.iot_core_client("intruder"), name="intruder")
    writer.start(wait_s=10.0)
    try:
        bad_doc = lms_config_update("desired", {"site_heartbeat_s": None, "presence_timeout_s": None,
                                                "log_level": 5, "cloud": {"host": "evil.example"}})  # fmt: skip
        writer.publish(topics.shadow(thing, ShadowOp.UPDATE, topics.lms_config_shadow_name()), bad_doc, qos=1)
        reason = eventually(lambda: (s := status_of(twin)).get("state") == "rejected" and "cloud" in (s.get("reason")
                            or "") and s["reason"], what="the rejection of the intruder's document")  # fmt: skip
        assert "log_level" in reason
    finally:
        writer.stop()
    assert exec_refused(twin) is True

    # put right through the API: any key may be removed (null), even one the API would never set
    status, body = put_config(twin, {"log_level": "INFO", "cloud": None})
    assert status == 200, body
    eventually(lambda: status_of(twin).get("state") == "applied" and lms_config(twin)["pending"] == {},
               what="the repaired configuration applied")  # fmt: skip
    assert "cloud" not in lms_config(twin)["desired"]


def test_versions_reach_the_cloud(twin: Twin) -> None:
    """The agent's software and configuration versions travel through the LMS's heartbeat; the LMS's too."""
    agent = eventually(lambda: (a := call(f"{twin.api_url}/api/agents/{AGENTS[0]}", twin.admin_token)[1]["data"])
                       .get("config_version") and a, what="the agent's configuration version in the cloud")
    assert agent["config_version"].startswith("local:") and agent["version"]
    status, body = call(f"{twin.api_url}/api/versions", twin.admin_token)
    assert status == 200, body
    site = call(f"{twin.api_url}/api/lms/{twin.opt.site_id}", twin.admin_token)[1]["data"]
    assert body["data"]["newest"] == {"lms": site["lms_version"], "agent": agent["version"]}
    assert body["data"]["sites"] == [] and body["data"]["agents"] == []  # one of each: all on the newest


def _restart_lms(twin: Twin, config: dict[str, Any], name: str) -> ChildProcess:
    path = twin.lms_dir / f"{name}.toml"
    path.write_text(toml_writer.dumps(config))
    child = ChildProcess.python(
        f"LMS {name}", "edge.lms", ["--config", str(path)], twin.workdir / "logs" / f"lms-{name}.log",
        env={"CLASSTOP_LMS_ADMIN_TOKEN": twin.lms_token},
    ).start()
    wait_for("the LMS API", lambda: twin.lms_api("/api/health").get("success"), 60, watch=[child])
    return child


def test_without_the_cloud_the_lms_keeps_the_last_applied_or_runs_on_its_file(twin: Twin) -> None:
    """(The module's last test: it stops the twin's LMS for good.)"""
    status, body = put_config(twin, {"exec_policy": "disabled", "log_level": "INFO"})
    assert status == 200, body
    eventually(lambda: status_of(twin).get("state") == "applied" and lms_config(twin)["pending"] == {},
               what="an applied configuration")  # fmt: skip
    assert twin.lms is not None
    twin.lms.stop()
    unreachable = {**twin.lms_config(), "cloud": {**twin.lms_config()["cloud"], "port": free_port()}}

    # restarted with the cloud unreachable: the last applied cloud configuration (stored) is in force
    child = _restart_lms(twin, unreachable, "no-cloud")
    try:
        eventually(lambda: exec_refused(twin) is True, 60, what="the stored configuration in force")
        assert twin.lms_api("/api/health")["data"]["cloud"]["config_version"].startswith("cloud:")
    finally:
        child.stop()

    # first start ever (a new database) with the cloud unreachable: the local file is in force
    fresh = {**unreachable, "db_path": str(twin.lms_dir / "fresh.db")}
    child = _restart_lms(twin, fresh, "first-start")
    try:
        eventually(lambda: exec_refused(twin) is False, 60, what="the local file in force")
        assert twin.lms_api("/api/health")["data"]["cloud"]["config_version"].startswith("local:")
    finally:
        child.stop()

