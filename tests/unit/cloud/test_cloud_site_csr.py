"""Issue 11 item 8: a site's private key is made on the LMS and never leaves it. Enrolment sends a CSR; the cloud
checks it and has AWS IoT sign it (``CreateCertificateFromCsr``, moto made faithful in ``tests/fixtures``)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from site_keys import certificate_key, csr_pem, ec_key, private_pem, public_der, rsa_key

from chalicelib.models import SiteModel
from infra.lms.entrypoint import site_key_and_csr
from shared.topics import site_thing_name
from tests.unit.cloud.cloud_testkit import NS, Cloud, iot_client, online, running_cloud

LMS = {"lms_uuid": "school-1", "name": "School 1", "host": "10.0.0.5", "port": 8000, "version": "1.0.0"}


def enrolment_token(cloud: Cloud, site_id: str = "school-1") -> str:
    token: str = cloud.post("/api/enrolments", {"name": site_id, "site_id": site_id}).json_body["data"]["token"]
    return token


def enrol(cloud: Cloud, token: str, csr: str | None, body: dict[str, Any] | None = None) -> Any:
    payload = {**(body or LMS), **({} if csr is None else {"csr": csr})}
    return cloud.request("POST", "/api/lms/register", payload, role=None, headers={"Authorization": f"Bearer {token}"})


def every_dynamodb_item() -> str:
    """Every item of every table, as text (a test-only inspection)."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    items = []
    for table in dynamodb.list_tables()["TableNames"]:
        items += dynamodb.scan(TableName=table)["Items"]
    return json.dumps(items)


def test_site_private_key_never_leaves_site() -> None:
    with running_cloud() as cloud:
        token = enrolment_token(cloud)
        key, csr = site_key_and_csr(site_thing_name(NS, "school-1"))  # what the LMS container's entrypoint does
        response = enrol(cloud, token, csr)
        assert response.status_code == 200, response.json_body
        data = response.json_body["data"]
        text = json.dumps(response.json_body)
        key_body = "".join(private_pem(key).splitlines()[1:-1])
        assert "private_key" not in data and "PRIVATE KEY" not in text and key_body[:40] not in text
        # AWS signed the CSR's key: the certificate is for the key the LMS kept
        assert certificate_key(data["certificate_pem"]) == public_der(key.public_key())
        iot = iot_client()
        described = iot.describe_certificate(certificateId=data["certificate_id"])["certificateDescription"]
        assert described["status"] == "ACTIVE" and described["certificatePem"] == data["certificate_pem"]
        # the cloud stores no private key either
        stored = every_dynamodb_item()
        assert "PRIVATE KEY" not in stored and key_body[:40] not in stored
        assert SiteModel.get("school-1").certificate_id == data["certificate_id"]
        # the enrolled site reports through IoT with that identity
        assert cloud.heartbeat("school-1", [online("pc-1")])["agents_written"] == 1


def test_enrolment_without_a_csr_is_400_and_keeps_the_token() -> None:
    with running_cloud() as cloud:
        token = enrolment_token(cloud)
        response = enrol(cloud, token, None)
        assert response.status_code == 400
        assert "csr" in response.json_body["error"]["message"] and "never makes private keys" in \
            response.json_body["error"]["message"]
        assert iot_client().list_certificates()["certificates"] == [] and SiteModel.count("school-1") == 0
        # a CSR without an enrolment token: no certificate path (403: a credential the caller lacks, not a body the
        # document refuses; issue 17)
        seed = cloud.post("/api/lms/register", {**LMS, "lms_uuid": "seed-1", "csr": csr_pem(ec_key())}, role=None)
        assert seed.status_code == 403 and "enrolment token" in seed.json_body["error"]["message"]
        assert enrol(cloud, token, csr_pem(ec_key())).status_code == 200  # the token was not used up


def _tampered() -> str:
    lines = csr_pem(ec_key()).splitlines()
    body = lines[-2]
    lines[-2] = body[:-6] + ("AAAA" if body[-6:-2] != "AAAA" else "BBBB") + body[-2:]
    return "\n".join(lines) + "\n"


BAD_CSRS: dict[str, Any] = {
    "not PEM": lambda: "hello",
    "two CSRs": lambda: csr_pem(ec_key()) + csr_pem(ec_key()),
    "a private key": lambda: private_pem(ec_key()),
    "a CSR with its key": lambda: csr_pem(key := ec_key()) + private_pem(key),
    "RSA 1024": lambda: csr_pem(rsa_key(1024)),
    "P-521": lambda: csr_pem(ec_key(ec.SECP521R1())),
    "secp256k1": lambda: csr_pem(ec_key(ec.SECP256K1())),
    "Ed25519": lambda: _ed25519(),
    "SHA-224": lambda: csr_pem(ec_key(), digest=hashes.SHA224()),
    "bad signature": _tampered,
    "too long": lambda: "-----BEGIN CERTIFICATE REQUEST-----\n" + "A" * 9000 + "\n-----END CERTIFICATE REQUEST-----\n",
    "garbage in a PEM block": lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
}


def _ed25519() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "x")]))
               .sign(ed25519.Ed25519PrivateKey.generate(), None))
    return request.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def csr_cloud() -> Any:
    with running_cloud() as cloud:
        yield cloud


@pytest.mark.parametrize("case", sorted(BAD_CSRS))
def test_bad_csr_is_400_and_changes_nothing(csr_cloud: Cloud, case: str) -> None:
    token = enrolment_token(csr_cloud, "school-bad")
    response = enrol(csr_cloud, token, BAD_CSRS[case](), {**LMS, "lms_uuid": "school-bad"})
    assert response.status_code == 400, (case, response.json_body)
    assert "csr" in response.json_body["error"]["message"], response.json_body
    assert iot_client().list_certificates()["certificates"] == []
    assert iot_client().list_things()["things"] == []
    assert SiteModel.count("school-bad") == 0


@pytest.mark.parametrize("make", [lambda: rsa_key(2048), lambda: rsa_key(4096), lambda: ec_key(ec.SECP384R1())],
                         ids=["RSA 2048", "RSA 4096", "P-384"])
def test_other_accepted_keys(csr_cloud: Cloud, make: Any) -> None:
    key = make()
    site = f"school-{public_der(key.public_key())[-6:].hex()}"
    response = enrol(csr_cloud, enrolment_token(csr_cloud, site), csr_pem(key), {**LMS, "lms_uuid": site})
    assert response.status_code == 200, response.json_body
    assert certificate_key(response.json_body["data"]["certificate_pem"]) == public_der(key.public_key())
    assert csr_cloud.delete(f"/api/lms/{site}").status_code == 200


def test_reenrolment_with_a_bound_token_revokes_the_old_certificate(csr_cloud: Cloud) -> None:
    body = {**LMS, "lms_uuid": "school-re"}
    first = enrol(csr_cloud, enrolment_token(csr_cloud, "school-re"), csr_pem(ec_key()), body).json_body["data"]
    key = ec_key()
    second = enrol(csr_cloud, enrolment_token(csr_cloud, "school-re"), csr_pem(key), body).json_body["data"]
    assert certificate_key(second["certificate_pem"]) == public_der(key.public_key())
    certificates = {c["certificateId"] for c in iot_client().list_certificates()["certificates"]}
    assert second["certificate_id"] in certificates and first["certificate_id"] not in certificates
    old_key = csr_cloud.request("POST", "/api/lms/heartbeat", {"lms_uuid": "school-re", "client_count": 0},
                                role=None, headers={"Authorization": f"Bearer {first['api_key']}"})
    assert old_key.status_code == 401
