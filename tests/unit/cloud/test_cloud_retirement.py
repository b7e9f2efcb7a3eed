"""Retiring an agent and a site from the cloud (``POST /api/agents/{id}/retire``, ``POST /api/lms/{id}/retire``,
``manage.py agent|site retire``), on moto: IoT things, certificates, policies and shadows, DynamoDB."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from test_cloud_site_csr import LMS, enrol, enrolment_token

from chalicelib import cli, container
from chalicelib.models.agent import AgentModel
from infra.lms.entrypoint import site_key_and_csr
from shared.messages import AgentRetire, decode
from shared.topics import SiteDown, agent_shadow_name, cctv_shadow_name, site_down, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud, iot_client, online, running_cloud

DESIRED = json.dumps({"state": {"desired": {"volume": "30"}}}).encode()


def _shadow(thing: str, name: str) -> dict[str, Any] | None:
    document: dict[str, Any] | None = container.get().shadows.get(thing, name)
    return document


def _enrolled(cloud: Cloud, site_id: str) -> dict[str, Any]:
    """A site enrolled with an IoT identity (as the LMS container does), reporting two agents with shadows."""
    _key, csr = site_key_and_csr(site_thing_name(NS, site_id))
    response = enrol(cloud, enrolment_token(cloud, site_id), csr, {**LMS, "lms_uuid": site_id})
    assert response.status_code == 200, response.json_body
    data: dict[str, Any] = response.json_body["data"]
    assert cloud.heartbeat(site_id, [online(f"{site_id}-pc1"), online(f"{site_id}-pc2")])["agents_written"] == 2
    thing = site_thing_name(NS, site_id)
    for agent_id in (f"{site_id}-pc1", f"{site_id}-pc2"):
        container.get().shadows.update(thing, agent_shadow_name(agent_id), DESIRED)
        container.get().shadows.update(thing, cctv_shadow_name(agent_id), DESIRED)
    return data


@pytest.fixture
def cloud() -> Any:
    with running_cloud() as running:
        running.tokens["s2-admin"] = container.get().tokens.create("admin", "s2 admin", site_ids=["s2"]).secret
        running.tokens["s1-operator"] = container.get().tokens.create("operator", "s1 op", site_ids=["s1"]).secret
        yield running


def _audit(cloud: Cloud, action: str) -> list[tuple[str, int]]:
    entries = cloud.get("/api/audit?limit=500").json_body["data"]["entries"]
    return sorted((e["actor"], e["status"]) for e in entries if e["action"] == action)  # one clock tick: any order


def test_retiring_an_agent_deletes_its_shadows_and_record_and_is_audited(cloud: Cloud) -> None:
    _enrolled(cloud, "s1")
    thing = site_thing_name(NS, "s1")
    assert cloud.put("/api/agents/s1-pc1/tags", {"tags": ["lab"]}).status_code == 200
    r = cloud.post("/api/agents/s1-pc1/retire", {"reason": "scrapped"})
    assert r.status_code == 200, r.json_body
    assert r.json_body["data"] == {"agent_id": "s1-pc1", "site_id": "s1", "retired": True,
                                   "shadows": ["s1-pc1", "cctv:s1-pc1"], "shadows_cleaned": "deleted", "lms_told": True}
    assert _shadow(thing, "s1-pc1") is None and _shadow(thing, "cctv:s1-pc1") is None
    # its LMS is told, to revoke its broker credentials (site_down(..., RETIRE))
    told = [m for m in cloud.publisher.messages if m.topic == site_down(NS, "s1", SiteDown.RETIRE)]
    assert [decode(AgentRetire, m.payload).model_dump(exclude={"timestamp"}) for m in told] == [
        {"v": 1, "type": "agent_retire", "agent_id": "s1-pc1", "by": "test-admin", "reason": "scrapped"}]
    assert _shadow(thing, "s1-pc2") is not None  # the other agent's shadows are untouched
    assert cloud.get("/api/agents/s1-pc1").status_code == 404
    assert cloud.get("/api/agents?tag=lab").json_body["data"]["agents"] == []  # its tag membership is gone too
    assert cloud.post("/api/agents/s1-pc1/retire", None).status_code == 404  # again: unknown now
    assert [s for _a, s in _audit(cloud, "agent.retire")] == [200, 404]


def test_an_admin_of_another_site_or_an_operator_cannot_retire_an_agent(cloud: Cloud) -> None:
    _enrolled(cloud, "s1")
    for role, status in (("s2-admin", 404), ("s1-operator", 403), ("operator", 403), ("viewer", 403)):
        assert cloud.post("/api/agents/s1-pc1/retire", None, role=role).status_code == status, role
        assert cloud.post("/api/lms/s1/retire", None, role=role).status_code == status, role
    assert cloud.post("/api/agents/s1-pc1/retire", None, role=None).status_code == 401
    assert not [m for m in cloud.publisher.messages if m.topic.endswith("/down/retire")]  # its LMS was not told
    assert cloud.post("/api/agents/s1-pc1/retire", {"why": "x"}).status_code == 400  # bad bodies change nothing
    assert cloud.post("/api/lms/s1/retire", {"reason": "x" * 201}).status_code == 400
    assert cloud.get("/api/agents/s1-pc1").status_code == 200
    assert AgentModel.get("s1-pc1").site_id == "s1"
    assert cloud.get("/api/lms/s1").json_body["data"]["retired_at"] is None


def test_a_store_that_cannot_delete_shadows_gets_them_cleared(cloud: Cloud) -> None:
    """The local twin's shadow service may not serve DeleteThingShadow: the documents are cleared instead."""
    _enrolled(cloud, "s1")
    real = container.get().shadows

    class NoDelete:
        def update(self, thing: str, shadow: str, payload: bytes) -> dict[str, Any]:
            return real.update(thing, shadow, payload)

        def get(self, thing: str, shadow: str) -> dict[str, Any] | None:
            return real.get(thing, shadow)

    service = container.get().retirement
    service._shadows = NoDelete()  # the one seam this test needs
    r = cloud.post("/api/agents/s1-pc2/retire", None)
    assert r.status_code == 200 and r.json_body["data"]["shadows_cleaned"] == "cleared"
    document = _shadow(site_thing_name(NS, "s1"), "s1-pc2")
    assert document is not None and not document.get("state", {}).get("desired")


def test_retiring_a_site_revokes_its_identity_retires_its_agents_and_refuses_its_lms(cloud: Cloud) -> None:
    data = _enrolled(cloud, "s1")
    api_key = data["api_key"]
    thing = site_thing_name(NS, "s1")
    iot = iot_client()
    policy = container.get().settings.iot_site_policy
    assert iot.list_attached_policies(target=data["certificate_arn"])["policies"]

    r = cloud.post("/api/lms/s1/retire", None)
    assert r.status_code == 200, r.json_body
    body = r.json_body["data"]
    assert body["agents_retired"] == ["s1-pc1", "s1-pc2"] and body["certificate_revoked"] is True

    # IoT: the certificate is gone (deactivated, detached from the policy, deleted), and so is the thing.
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_certificate(certificateId=data["certificate_id"])
    with pytest.raises(iot.exceptions.ResourceNotFoundException):
        iot.describe_thing(thingName=thing)
    assert iot.list_targets_for_policy(policyName=policy)["targets"] == []
    # its agents and their shadows are gone; the site's record stays, marked retired
    assert cloud.get("/api/agents?site_id=s1").json_body["data"]["agents"] == []
    data_plane = boto3.client("iot-data", region_name="us-east-1")
    with pytest.raises(data_plane.exceptions.ResourceNotFoundException):
        data_plane.get_thing_shadow(thingName=thing, shadowName="s1-pc1")
    site = cloud.get("/api/lms/s1").json_body["data"]
    assert site["retired_at"] is not None and site["approval"] == "rejected" and site["thing_name"] is None

    # Its LMS is refused: its API key (heartbeat, re-registration), a registration without credentials, and
    # its heartbeats through IoT.
    key = {"Authorization": f"Bearer {api_key}"}
    beat = cloud.request("POST", "/api/lms/heartbeat", {"lms_uuid": "s1", "client_count": 0}, role=None, headers=key)
    assert beat.status_code == 401
    again = cloud.request("POST", "/api/lms/register", {**LMS, "lms_uuid": "s1"}, role=None, headers=key)
    assert again.status_code == 401
    assert cloud.request("POST", "/api/lms/register", {**LMS, "lms_uuid": "s1"}, role=None).status_code == 409
    refused = cloud.heartbeat("s1", [online("s1-pc1")])
    assert "agents_written" not in refused and "not approved" in json.dumps(refused), refused
    assert cloud.get("/api/agents/s1-pc1").status_code == 404
    # retiring it again is a clear 404; both calls are audited
    assert cloud.post("/api/lms/s1/retire", None).status_code == 404
    assert [s for _a, s in _audit(cloud, "lms.retire")] == [200, 404]

    # An admin brings it back: an enrolment token bound to its id gives it a new identity, approved.
    _key, csr = site_key_and_csr(thing)
    back = enrol(cloud, enrolment_token(cloud, "s1"), csr, {**LMS, "lms_uuid": "s1"})
    assert back.status_code == 200, back.json_body
    site = cloud.get("/api/lms/s1").json_body["data"]
    assert site["retired_at"] is None and site["approval"] == "approved" and site["thing_name"] == thing


def test_manage_py_retires_an_agent_and_a_site_and_audits_it(cloud: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    _enrolled(cloud, "s1")
    assert cli.main(["agent", "retire", "s1-pc1"]) == 0
    assert "retired agent s1-pc1" in capsys.readouterr().out
    assert cli.main(["agent", "retire", "s1-pc1"]) == 2
    assert "unknown agent s1-pc1" in capsys.readouterr().err
    assert cli.main(["--json", "site", "retire", "s1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agents_retired"] == ["s1-pc2"] and out["retired"] is True
    assert _audit(cloud, "agent.retire") == [("manage.py", 200), ("manage.py", 404)]
    assert _audit(cloud, "lms.retire") == [("manage.py", 200)]
