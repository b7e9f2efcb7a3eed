"""Sites' LMS: seed registration and heartbeat (docs/classtop.md, seed LMS calls), enrolment with a one-time
token and a CSR (IoT thing + certificate on moto), listing, clients of a site, approval and deletion (revoking the
identity)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from site_keys import csr_pem, ec_key

from chalicelib.models import SiteModel, TokenModel
from tests.unit.cloud.cloud_testkit import Cloud, iot_client, running_cloud

LMS: dict[str, Any] = {"lms_uuid": "6f1c2a9e-0000-4000-8000-000000000001", "name": "LMS-school1", "host": "10.0.0.5",
       "port": 8000, "version": "1.0.0"}
CLIENTS = [{"uuid": "c0ffee00-0000-4000-8000-000000000001", "name": "Room 101", "status": "online"},
           {"uuid": "c0ffee00-0000-4000-8000-000000000002", "name": "Room 102", "status": "offline"}]


def heartbeat_body(clients: list[dict[str, Any]] = CLIENTS, lms_uuid: str = LMS["lms_uuid"]) -> dict[str, Any]:
    return {"lms_uuid": lms_uuid, "client_count": len(clients), "clients": clients}


def key_headers(cloud: Cloud, api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def enrol(cloud: Cloud, token: str) -> Any:
    """Register with an enrolment token and the CSR of a key pair made here, as the LMS does."""
    return cloud.request("POST", "/api/lms/register", {**LMS, "csr": csr_pem(ec_key())}, role=None,
                         headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def open_cloud() -> Iterator[Cloud]:
    with running_cloud(lms_policy="open") as cloud:
        yield cloud


def test_seed_lms_registers_and_heartbeats(open_cloud: Cloud) -> None:
    response = open_cloud.post("/api/lms/register", LMS, role=None)
    assert response.status_code == 200
    body = response.json_body
    assert body["success"] is True
    lms_id, api_key = body["data"]["lms_id"], body["data"]["api_key"]
    assert lms_id == LMS["lms_uuid"] and api_key.startswith("ctl_")
    assert "certificate_pem" not in body["data"]  # no IoT identity without an enrolment token
    assert TokenModel.count(api_key) == 0  # only its hash is stored

    hb = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(), role=None,
                            headers=key_headers(open_cloud, api_key))
    assert hb.status_code == 200 and hb.json_body["success"] is True
    assert hb.json_body["data"]["agents_written"] == 2

    # an unchanged heartbeat writes nothing
    open_cloud.clock.advance(30)
    hb = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(), role=None,
                            headers=key_headers(open_cloud, api_key))
    assert hb.json_body["data"]["agents_written"] == 0

    site = open_cloud.get(f"/api/lms/{lms_id}", role="viewer").json_body["data"]
    assert (site["name"], site["host"], site["port"], site["version"]) == ("LMS-school1", "10.0.0.5", 8000, "1.0.0")
    assert (site["client_count"], site["online_count"], site["approval"]) == (2, 1, "approved")
    listed = open_cloud.get("/api/lms").json_body["data"]["sites"]
    assert [s["site_id"] for s in listed] == [lms_id]
    clients = open_cloud.get(f"/api/lms/{lms_id}/clients").json_body["data"]["clients"]
    assert {(c["agent_id"], c["status"], c["kind"], c["hostname"]) for c in clients} == {
        (CLIENTS[0]["uuid"], "online", "legacy", "Room 101"), (CLIENTS[1]["uuid"], "offline", "legacy", "Room 102")}


def test_heartbeat_auth_and_validation(open_cloud: Cloud) -> None:
    api_key = open_cloud.post("/api/lms/register", LMS, role=None).json_body["data"]["api_key"]
    for headers in ({}, {"Authorization": "Bearer ctl_wrong"}, {"Authorization": "Basic x"}):
        response = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(), role=None, headers=headers)
        assert response.status_code == 401
    # an admin API token is no LMS key, and an LMS key is no admin token
    response = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(), role="admin")
    assert response.status_code == 401
    assert open_cloud.request("GET", "/api/lms", role=None,
                              headers={"Authorization": f"Bearer {api_key}"}).status_code == 401
    headers = key_headers(open_cloud, api_key)
    other = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(lms_uuid="someone-else"), role=None,
                               headers=headers)
    assert other.status_code == 403
    bad = open_cloud.request("POST", "/api/lms/heartbeat", {"lms_uuid": LMS["lms_uuid"], "client_count": -1},
                             role=None, headers=headers)
    assert bad.status_code == 400 and "client_count" in bad.json_body["error"]["message"]


@pytest.mark.parametrize("field", ["lms_uuid", "name", "port", "version"])
def test_bad_registration_is_400_and_writes_nothing(open_cloud: Cloud, field: str) -> None:
    bad = {**LMS, field: {"lms_uuid": "no spaces allowed", "name": "", "port": 70000, "version": 1}[field]}
    response = open_cloud.post("/api/lms/register", bad, role=None)
    assert response.status_code == 400
    assert field in response.json_body["error"]["message"]
    assert SiteModel.count(LMS["lms_uuid"]) == 0


def test_reregistration_with_the_current_key_rotates_it(open_cloud: Cloud) -> None:
    first = open_cloud.post("/api/lms/register", LMS, role=None).json_body["data"]["api_key"]
    assert open_cloud.post("/api/lms/register", LMS, role=None).status_code == 409  # no credential: refused
    second = open_cloud.request("POST", "/api/lms/register", LMS, role=None,
                                headers=key_headers(open_cloud, first)).json_body["data"]["api_key"]
    assert first != second
    def hb(key: str) -> int:
        status: int = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(), role=None,
                                         headers=key_headers(open_cloud, key)).status_code
        return status

    assert (hb(first), hb(second)) == (401, 200)


def test_policies_approval_and_closed() -> None:
    with running_cloud(lms_policy="approval") as cloud:
        data = cloud.post("/api/lms/register", LMS, role=None).json_body["data"]
        assert data["approval"] == "pending"
        assert cloud.post(f"/api/lms/{data['lms_id']}/approve", {}, role="operator").status_code == 403
        assert cloud.post(f"/api/lms/{data['lms_id']}/approve", {}).json_body["data"]["approval"] == "approved"
        assert cloud.post("/api/lms/nope/approve", {}).status_code == 404
    with running_cloud(lms_policy="closed") as cloud:
        assert cloud.post("/api/lms/register", LMS, role=None).status_code == 403
        assert SiteModel.count(LMS["lms_uuid"]) == 0


def test_enrolment_issues_an_iot_identity_once(open_cloud: Cloud) -> None:
    created = open_cloud.post("/api/enrolments", {"name": "school 1", "site_id": "school-1"})
    assert created.status_code == 201
    token = created.json_body["data"]["token"]
    assert open_cloud.post("/api/enrolments", {"name": "x"}, role="operator").status_code == 403

    response = enrol(open_cloud, token)
    assert response.status_code == 200
    data = response.json_body["data"]
    assert data["lms_id"] == "school-1" and data["approval"] == "approved"
    assert data["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "private_key" not in data  # the LMS made its key (test_cloud_site_csr.py)
    iot = iot_client()
    thing = iot.describe_thing(thingName=data["thing_name"])
    assert data["thing_name"] == "ct--demo--test--school-1"
    assert thing["attributes"] == {"site_id": "school-1"}  # what the site policy's variables read
    assert iot.list_attached_policies(target=data["certificate_arn"])["policies"][0]["policyName"] \
        == "classtop--demo--test--site-policy"
    assert iot.describe_certificate(certificateId=data["certificate_id"])["certificateDescription"]["status"] \
        == "ACTIVE"
    site = open_cloud.get("/api/lms/school-1").json_body["data"]
    assert "private_key" not in site and "certificate_pem" not in site

    # the token was used up; a seed re-registration cannot take over an enrolled site
    assert enrol(open_cloud, token).status_code == 401

    # deleting the site revokes the certificate, the thing and the API key
    assert open_cloud.delete("/api/lms/school-1", role="operator").status_code == 403
    assert open_cloud.delete("/api/lms/school-1").status_code == 200
    assert iot.list_things()["things"] == []
    assert iot.list_certificates()["certificates"] == []
    hb = open_cloud.request("POST", "/api/lms/heartbeat", heartbeat_body(), role=None,
                            headers=key_headers(open_cloud, data["api_key"]))
    assert hb.status_code == 401
    assert open_cloud.get("/api/lms/school-1").status_code == 404
    assert open_cloud.delete("/api/lms/school-1").status_code == 404


def test_enrolled_site_refuses_seed_reregistration(open_cloud: Cloud) -> None:
    token = open_cloud.post("/api/enrolments", {"name": "s"}).json_body["data"]["token"]
    assert enrol(open_cloud, token).status_code == 200
    assert open_cloud.post("/api/lms/register", LMS, role=None).status_code == 409


def test_failed_enrolment_undoes_everything_and_keeps_the_token() -> None:
    with running_cloud(lms_policy="closed", iot_site_policy="missing-policy") as cloud:
        iot = iot_client()
        iot.delete_policy(policyName="missing-policy")  # the template did not create it
        token = cloud.post("/api/enrolments", {"name": "s", "site_id": "s9"}).json_body["data"]["token"]
        response = enrol(cloud, token)
        assert response.status_code == 502
        assert iot.list_things()["things"] == [] and iot.list_certificates()["certificates"] == []
        assert SiteModel.count("s9") == 0
        iot.create_policy(policyName="missing-policy", policyDocument="{}")
        retry = enrol(cloud, token)
        assert retry.status_code == 200  # the token was given back


def test_expired_enrolment_token_is_401(open_cloud: Cloud) -> None:
    token = open_cloud.post("/api/enrolments", {"name": "s", "ttl_s": 60}).json_body["data"]["token"]
    open_cloud.clock.advance(61)
    assert enrol(open_cloud, token).status_code == 401


def test_enrolled_thing_gets_the_configured_thing_type() -> None:
    with running_cloud(iot_site_thing_type="classtop--demo--test--site-thing") as cloud:
        iot = iot_client()
        iot.create_thing_type(thingTypeName="classtop--demo--test--site-thing")
        token = cloud.post("/api/enrolments", {"name": "s", "site_id": "s7"}).json_body["data"]["token"]
        data = enrol(cloud, token).json_body["data"]
        thing = iot.describe_thing(thingName=data["thing_name"])
        assert thing["thingTypeName"] == "classtop--demo--test--site-thing"
        assert thing["attributes"] == {"site_id": "s7"}
