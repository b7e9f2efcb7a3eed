"""A site's LMS configuration from the cloud (``GET|PUT /api/lms/{site_id}/config``, the ``lms:config`` shadow of the
site's thing) on moto's iot-data: desired vs reported vs pending and the LMS's status, null removes a key, versioned
writes, validation, another site's admin, the audit; and ``GET /api/versions``."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import container
from shared.messages.checks import FULL_PERIOD_MAX_S
from shared.messages.lms_config import lms_config_update
from shared.topics import lms_config_shadow_name, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, Cloud, online

THING = site_thing_name(NS, "s1")
PATH = "/api/lms/s1/config"


def report(values: dict[str, Any]) -> None:
    """What the site's LMS does once it applied (or rejected) the desired configuration."""
    container.get().shadows.update(THING, lms_config_shadow_name(), lms_config_update("reported", values))


def view(cloud: Cloud, role: str = "operator") -> dict[str, Any]:
    response = cloud.get(PATH, role=role)
    assert response.status_code == 200, response.json_body
    data: dict[str, Any] = response.json_body["data"]
    return data


def test_desired_then_reported_with_the_lms_status(site: Cloud) -> None:
    assert view(site) == {"site_id": "s1", "desired": {}, "reported": {}, "pending": {}, "status": None,
                          "version": 0}  # fmt: skip
    desired = {"site_heartbeat_s": 10, "classtop": {"client_policy": "open"}}
    response = site.put(PATH, {"config": desired})
    assert response.status_code == 200, response.json_body
    data = response.json_body["data"]
    assert data["desired"] == desired and data["pending"] == desired and data["version"] == 1

    raw = boto3.client("iot-data", region_name="us-east-1").get_thing_shadow(thingName=THING,
                                                                             shadowName="lms:config")
    assert json.loads(raw["payload"].read())["state"]["desired"] == desired  # the contract: the lms:config shadow

    status = {"state": "applied", "version": 1, "config_version": "cloud:1", "at": 1.0}
    report({"site_heartbeat_s": 10, "presence_timeout_s": 20, "classtop": {"client_policy": "open",
            "max_clients": 2000}, "config_status": status})  # fmt: skip
    after = view(site)
    assert after["pending"] == {} and after["status"]["state"] == "applied"
    assert "config_status" not in after["reported"] and after["reported"]["presence_timeout_s"] == 20

    # null removes a key (the LMS's file decides it again), nested ones too
    response = site.put(PATH, {"config": {"classtop": {"client_policy": None}, "log_level": "DEBUG"}})
    assert response.status_code == 200, response.json_body
    assert response.json_body["data"]["desired"] == {"site_heartbeat_s": 10, "log_level": "DEBUG"}
    assert response.json_body["data"]["pending"] == {"log_level": "DEBUG"}


def test_versioned_writes(site: Cloud) -> None:
    assert site.put(PATH, {"config": {"site_heartbeat_s": 10}, "version": 0}).status_code == 200
    stale = site.put(PATH, {"config": {"site_heartbeat_s": 20}, "version": 0})
    assert stale.status_code == 409, stale.json_body
    assert view(site)["desired"] == {"site_heartbeat_s": 10}
    assert site.put(PATH, {"config": {"site_heartbeat_s": 20}, "version": 1}).status_code == 200


@pytest.mark.parametrize("config", [
    {"site_heartbeat_s": "10"},  # a string is not a number
    {"site_heartbeat_s": True},  # nor a boolean
    {"max_clients": 5},  # a [classtop] key at the top level
    {"classtop": {"frames_per_second": 10}},  # a ClassTop limit that stays local
    {"cloud": {"host": "evil.example"}},  # local-only: the cloud link
    {"site_broker": {"password": "x"}},  # local-only: broker credentials
    {"http_port": 80},  # local-only: ports
    {"tls_cert_file": "/etc/passwd"},  # local-only: TLS files
    {"exec_policy": "yes"},
    {},
    [],
])
def test_bad_documents_are_refused_and_nothing_is_stored(site: Cloud, config: Any) -> None:
    site.put(PATH, {"config": {"site_heartbeat_s": 10}})
    response = site.put(PATH, {"config": config})
    assert response.status_code == 400, response.json_body
    assert view(site)["desired"] == {"site_heartbeat_s": 10}


@pytest.mark.parametrize("period", [SETTINGS.site_stale_s / 3 + 1, 600, 3600])
def test_a_site_heartbeat_period_the_cloud_would_show_as_an_outage_is_refused(site: Cloud, period: float) -> None:
    """The cloud shows a site down ``site_stale_s`` after its last full heartbeat: a period over a third of it would
    show a healthy site down between its heartbeats (and raise its alert), two lost heartbeats tolerated."""
    site.put(PATH, {"config": {"site_heartbeat_s": 10}})
    response = site.put(PATH, {"config": {"site_heartbeat_s": period, "log_level": "DEBUG"}})
    assert response.status_code == 400, response.json_body
    message = response.json_body["error"]["message"]
    assert "site_heartbeat_s" in message and "180" in message
    assert view(site)["desired"] == {"site_heartbeat_s": 10}
    assert site.put(PATH, {"config": {"site_heartbeat_s": SETTINGS.site_stale_s / 3}}).status_code == 200


def test_a_site_whose_lms_states_its_period_may_beat_up_to_the_bound(site: Cloud) -> None:
    """An LMS of this release states its full heartbeat period in each heartbeat and the cloud judges the site by it
    (tests/unit/cloud/test_cloud_site_staleness.py): any period up to the message's bound is no outage."""
    site.heartbeat("s1", [online("a1")], period_s=300.0)
    for period in (300, FULL_PERIOD_MAX_S):
        assert site.put(PATH, {"config": {"site_heartbeat_s": period}}).status_code == 200
    response = site.put(PATH, {"config": {"site_heartbeat_s": FULL_PERIOD_MAX_S + 1}})
    assert response.status_code == 400 and "600" in response.json_body["error"]["message"]
    assert view(site)["desired"] == {"site_heartbeat_s": FULL_PERIOD_MAX_S}


def test_any_key_may_be_removed(site: Cloud) -> None:
    """A document someone wrote straight into the shadow can be repaired through the API."""
    container.get().shadows.update(THING, "lms:config", lms_config_update("desired", {"cloud": {"host": "x"}}))
    response = site.put(PATH, {"config": {"cloud": None, "log_level": "INFO"}})
    assert response.status_code == 200, response.json_body
    assert response.json_body["data"]["desired"] == {"log_level": "INFO"}


def test_another_sites_admin_cannot_read_or_set_it(site: Cloud) -> None:
    site.tokens["s2-admin"] = container.get().tokens.create("admin", "s2 admin", site_ids=["s2"]).secret
    assert site.get(PATH, role="s2-admin").status_code == 404
    response = site.put(PATH, {"config": {"exec_policy": "allow"}}, role="s2-admin")
    assert response.status_code == 404, response.json_body
    assert site.put(PATH, {"config": {"exec_policy": "allow"}}, role="operator").status_code == 403
    assert site.get(PATH, role="viewer").status_code == 403
    assert view(site)["desired"] == {}


def test_writes_are_audited_with_the_keys(site: Cloud) -> None:
    assert site.put(PATH, {"config": {"exec_policy": "local_only"}}).status_code == 200
    entries = site.get("/api/audit?action=lms.config").json_body["data"]
    items = entries.get("entries") or entries.get("items") or entries
    assert any("exec_policy" in json.dumps(e) for e in items), entries


def test_versions_lists_what_is_not_on_the_newest(cloud: Cloud) -> None:
    cloud.heartbeat("s1", [online("a1", version="1.10.0", config_version="local:aaa"),
                           online("a2", version="1.9.2")], lms_version="2.0.0")  # fmt: skip
    cloud.heartbeat("s2", [online("b1", version="1.10.0"), online("c1", kind="legacy", version="0.1")],
                    lms_version="1.9.0")  # fmt: skip
    response = cloud.get("/api/versions", role="viewer")
    assert response.status_code == 200, response.json_body
    data = response.json_body["data"]
    assert data["newest"] == {"lms": "2.0.0", "agent": "1.10.0"}
    assert [s["site_id"] for s in data["sites"]] == ["s2"]
    assert [a["agent_id"] for a in data["agents"]] == ["a2"]  # the ClassTop client has its own versions

    agent = cloud.get("/api/agents/a1", role="viewer").json_body["data"]
    assert agent["config_version"] == "local:aaa"

    # a token scoped to s2 sees only s2's laggards, against the tenant's newest versions
    cloud.tokens["s2"] = container.get().tokens.create("viewer", "s2 viewer", site_ids=["s2"]).secret
    scoped = cloud.get("/api/versions", role="s2").json_body["data"]
    assert scoped["newest"] == data["newest"] and [s["site_id"] for s in scoped["sites"]] == ["s2"]
    assert scoped["agents"] == []
