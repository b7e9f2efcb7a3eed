"""Retiring an agent and then its site, across all tiers (the local twin: real LMS with dynsec, real agents, the
cloud on moto). docs/operations.md "Site operations: retire an agent or a site", step by step."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra.local.cloud import cloud_environment
from infra.local.twin import Twin
from shared.names import Namespace
from shared.topics import site_thing_name
from tests.e2e.test_shadow_settings import call, eventually

pytestmark = pytest.mark.e2e

AGENTS = ("room-1", "room-2")  # the agents of the module's twin (tests/e2e/conftest.py)


def lms(twin: Twin, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    return call(f"{twin.lms_url}{path}", twin.lms_token, method, body, twin.lms_ssl_context())


def cloud(twin: Twin, path: str, method: str = "GET", body: Any = None, token: str | None = None) -> tuple[int, Any]:
    return call(f"{twin.api_url}{path}", token or twin.admin_token, method, body)


def _desired(twin: Twin, shadow: str) -> dict[str, Any]:
    """The desired state of one named shadow of the site's thing, as the twin's IoT Core stand-in (moto) holds it."""
    env = cloud_environment(twin.opt.tenant, twin.opt.stage, twin.moto_url)
    client = boto3.client("iot-data", endpoint_url=twin.moto_url, region_name=env["AWS_DEFAULT_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])  # fmt: skip
    thing = site_thing_name(Namespace(twin.opt.tenant, twin.opt.stage), twin.opt.site_id)
    try:
        document = json.loads(client.get_thing_shadow(thingName=thing, shadowName=shadow)["payload"].read())
    except client.exceptions.ResourceNotFoundException:
        return {}
    desired: dict[str, Any] = document.get("state", {}).get("desired") or {}
    return desired


def test_an_agent_retired_on_its_lms_and_in_the_cloud_is_gone_everywhere(twin: Twin) -> None:
    site = twin.opt.site_id
    # The cloud has set room-1's settings (its shadow exists) and sees both agents.
    status, body = cloud(twin, "/api/agents/room-1/settings", "PUT", {"settings": {"theme_mode": "dark"}})
    assert status == 200, body

    # Step 1, on the LMS: cut off at once, out of the fleet, archived.
    status, body = lms(twin, "/api/clients/room-1/retire", "POST", {"reason": "scrapped"})
    assert status == 200 and body["data"]["credentials_revoked"] is True, body
    assert lms(twin, "/api/clients/room-1")[0] == 404
    # Step 2: the PC cannot come back with the enrolment token it holds.
    log = twin.agents["room-1"].log_path
    eventually(lambda: "was retired" in log.read_text(errors="replace"), 30, what="room-1 refused re-enrolment")
    assert lms(twin, "/api/clients/room-2")[1]["data"]["status"] == "online"

    # The attacker: an admin of another site cannot retire it in the cloud (404, as for an unknown agent).
    status, body = cloud(twin, "/api/tokens", "POST", {"name": "other", "role": "admin", "site_ids": ["other"]})
    assert status == 201, body
    assert cloud(twin, "/api/agents/room-1/retire", "POST", {}, token=body["data"]["token"])[0] == 404

    # Step 3 happens by itself: the LMS reported the retirement (its outbox, up/retired) and the cloud cleaned its
    # records: the shadows (the twin's store cannot delete: cleared), the record gone.
    eventually(lambda: cloud(twin, "/api/agents/room-1")[0] == 404, 30, what="the cloud cleaning room-1")
    assert _desired(twin, "room-1") == {}
    # Retiring it in the cloud again is a clear 404.
    assert cloud(twin, "/api/agents/room-1/retire", "POST", {"reason": "scrapped"})[0] == 404
    # The site's later heartbeats do not bring it back (its LMS no longer reports it): room-2 going off makes
    # one, and the cloud seeing room-2 offline shows it arrived.
    twin.agents["room-2"].stop()
    eventually(lambda: cloud(twin, "/api/agents/room-2")[1]["data"]["status"] == "offline", 30, what="room-2 off")
    assert cloud(twin, "/api/agents/room-1")[0] == 404
    assert [a["agent_id"] for a in cloud(twin, f"/api/agents?site_id={site}")[1]["data"]["agents"]] == ["room-2"]
    twin.agents["room-2"].start()

    # Step 4: a token made after the retirement brings the id back.
    status, body = lms(twin, "/api/enrolment-tokens", "POST", {"ttl_s": 600, "max_uses": 1})
    assert status == 201, body
    agent_dir = twin.workdir / "agents" / "room-1"
    twin.agents["room-1"].stop()
    (agent_dir / "enroll-token").write_text(body["data"]["token"] + "\n")
    twin.agents["room-1"].start()
    eventually(lambda: lms(twin, "/api/clients/room-1")[0] == 200, 60, what="room-1 enrolled again")


def test_an_agent_retired_only_in_the_cloud_is_retired_by_its_lms_too(twin: Twin) -> None:
    """The cloud tells the LMS (site_down(..., RETIRE)): the broker credentials are revoked there, at once."""
    status, body = cloud(twin, "/api/agents/room-2/retire", "POST", {"reason": "moved to another school"})
    assert status == 200, body
    eventually(lambda: lms(twin, "/api/clients/room-2")[0] == 404, 30, what="the LMS retiring room-2")
    archive = lms(twin, "/api/retired-agents?agent_id=room-2")[1]["data"]["retired"]
    assert archive[0]["reason"] == "moved to another school" and archive[0]["retired_by"].startswith("cloud:")
    log = twin.agents["room-2"].log_path
    eventually(lambda: "was retired" in log.read_text(errors="replace"), 30, what="room-2 refused re-enrolment")
    audit = lms(twin, "/api/audit?action=agent:retire")[1]["data"]["entries"]
    assert ("room-2", "ok") in [(e["target"], e["result"]) for e in audit]
    assert cloud(twin, "/api/agents/room-2")[0] == 404


def test_a_retired_site_is_refused_by_the_cloud(twin: Twin) -> None:
    site = twin.opt.site_id
    status, body = cloud(twin, f"/api/lms/{site}/retire", "POST", {"reason": "the school closed"})
    assert status == 200, body
    assert set(body["data"]["agents_retired"]) <= {"room-1", "room-2"} and body["data"]["agents_retired"]
    status, body = cloud(twin, f"/api/lms/{site}")
    assert body["data"]["retired_at"] is not None and body["data"]["approval"] == "rejected"
    # Its LMS keeps running the site; its certificate is revoked, so the IoT Core stand-in refuses what it sends
    # (as IoT Core refuses a revoked certificate): nothing is written in the cloud.
    lms_log = twin.workdir / "logs" / "lms.log"
    eventually(lambda: "NOT_AUTHORIZED" in lms_log.read_text(errors="replace"), 30, what="the LMS's heartbeat refused")
    assert lms(twin, "/api/clients/room-1")[0] == 200  # the site itself runs on
    assert cloud(twin, f"/api/agents?site_id={site}")[1]["data"]["agents"] == []
    status, body = cloud(twin, f"/api/lms/{site}")
    assert body["data"]["retired_at"] is not None and body["data"]["thing_name"] is None
    # Retiring it again is a clear 404.
    assert cloud(twin, f"/api/lms/{site}/retire", "POST", {})[0] == 404
