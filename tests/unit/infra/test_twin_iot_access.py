"""The twin's IoT Core stand-in, without a broker: the site policy translated to broker roles (and what is refused
rather than guessed), the stand-in CA's CSR signing, and the issuer that gives and takes a site's access."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID

from infra.aws.policy_eval import IotPolicy, PolicyEvalError
from infra.aws.rules import RULES
from infra.lms.entrypoint import site_key_and_csr
from infra.local.basic_ingest import RULES_ENGINE_ROLE
from infra.local.iot_access import (
    ADMIN_CLIENT,
    ARN_PREFIX,
    IOT_CORE_ROLE,
    initial_dynsec_config,
    site_acls,
    site_policy,
)
from infra.local.iot_ca import IotCa, IotCaError, check_name
from infra.local.iot_registry import StandInIssuer
from shared import topics
from shared.mqtt import MqttSettings
from shared.names import Namespace

NS = Namespace("demo", "dev")
THING = topics.site_thing_name(NS, "school-1")
SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def _policy(document: dict[str, Any] | None = None) -> IotPolicy:
    return IotPolicy(document if document is not None else site_policy(NS))


def test_a_site_gets_its_own_topics_and_shadows_only() -> None:
    acls = {(a["acltype"], a["topic"]) for a in site_acls(_policy(), THING, {"site_id": "school-1"})}
    assert acls == {
        ("publishClientSend", "ct/demo/dev/site/school-1/up/+/#"),
        # Basic Ingest: `$aws/rules/classtop__*/...` becomes one literal prefix per rule of the site's tenant stage
        *(("publishClientSend", f"$aws/rules/{rule.full_name(NS)}/ct/demo/dev/site/school-1/up/+/#") for rule in RULES),
        ("publishClientSend", f"$aws/things/{THING}/shadow/+/#"),
        ("publishClientReceive", "ct/demo/dev/site/school-1/down/+/#"),
        ("publishClientReceive", f"$aws/things/{THING}/shadow/+/#"),
        ("subscribePattern", "ct/demo/dev/site/school-1/down/#"),
        ("subscribePattern", f"$aws/things/{THING}/shadow/#"),
    }


@pytest.mark.parametrize(("thing", "attributes"), [
    (THING, {"site_id": "school-2"}),  # the attribute names another site: the policy's Connect fails
    (THING, {}),  # no site attribute
    (topics.site_thing_name(Namespace("other", "dev"), "school-1"), {"site_id": "school-1"}),  # another tenant
])  # fmt: skip
def test_a_thing_the_policy_does_not_let_connect_gets_nothing(thing: str, attributes: dict[str, str]) -> None:
    assert site_acls(_policy(), thing, attributes) == []


def _with_statement(statement: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(site_policy(NS))
    document["Statement"].append(statement)
    return document


@pytest.mark.parametrize("statement", [
    {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/ct/*"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/ct/demo/*/up"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/ct/demo/dev/site/?"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/ct/demo/x*"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/ct/+/x/*"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/ct/#"},
    # a Basic Ingest rule level with `?`, or a `*` in a level of the rest, is not expanded
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/$aws/rules/classtop__?/ct/demo/*"},
    {"Effect": "Allow", "Action": "iot:Publish", "Resource": f"{ARN_PREFIX}topic/$aws/rules/classtop__*/ct/de*/x"},
])  # fmt: skip
def test_what_cannot_be_translated_exactly_is_refused(statement: dict[str, Any]) -> None:
    with pytest.raises(PolicyEvalError):
        site_acls(_policy(_with_statement(statement)), THING, {"site_id": "school-1"})


def test_a_site_id_holding_a_wildcard_widens_nothing() -> None:
    with pytest.raises(PolicyEvalError):
        site_acls(_policy(), topics.site_thing_name(NS, "school-1").replace("school-1", "#"), {"site_id": "#"})


def test_the_initial_broker_config_denies_by_default() -> None:
    config = initial_dynsec_config(["rules"], admins=["supervisor"])
    assert config["defaultACLAccess"] == {"publishClientSend": False, "publishClientReceive": False,
                                          "subscribe": False, "unsubscribe": True}
    clients = {c["username"]: [r["rolename"] for r in c["roles"]] for c in config["clients"]}
    assert clients["rules"] == [IOT_CORE_ROLE] and ADMIN_CLIENT in clients and "supervisor" in clients
    assert not any("password" in c for c in config["clients"])  # certificates only


def test_only_the_rules_engine_may_receive_basic_ingest() -> None:
    config = initial_dynsec_config(["observer"], rules_engines=["engine"])
    clients = {c["username"]: [r["rolename"] for r in c["roles"]] for c in config["clients"]}
    assert clients["observer"] == [IOT_CORE_ROLE] and clients["engine"] == [RULES_ENGINE_ROLE]
    roles = {r["rolename"]: r["acls"] for r in config["roles"]}
    denied = {(a["acltype"], a["topic"]) for a in roles[IOT_CORE_ROLE] if not a["allow"]}
    assert denied == {("subscribePattern", "$aws/rules/#"), ("publishClientReceive", "$aws/rules/#")}
    top = max(a["priority"] for a in roles[IOT_CORE_ROLE])
    assert all(not a["allow"] for a in roles[IOT_CORE_ROLE] if a["priority"] == top)  # checked before "$aws/#"
    assert all(a["allow"] for a in roles[RULES_ENGINE_ROLE])


def test_the_stand_in_ca_signs_a_csr_with_its_subject_and_key(tmp_path: Path) -> None:
    ca = IotCa(tmp_path / "ca")
    key, csr = site_key_and_csr(THING)
    cert = x509.load_pem_x509_certificate(ca.sign_csr(csr).encode())
    assert cert.public_key().public_bytes(*SPKI) == key.public_key().public_bytes(*SPKI)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == THING
    cert.verify_directly_issued_by(ca.cert)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert IotCa(tmp_path / "ca").cert == ca.cert  # kept in its directory


def _ed25519_csr() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, THING)])).sign(key, None)
    return request.public_bytes(serialization.Encoding.PEM).decode()


def _tampered_csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, THING)])).sign(key, hashes.SHA256())
    der = bytearray(request.public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the signature's last byte
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("csr", ["", "not a csr", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE "
                                 "REQUEST-----\n", "\udcff"])
def test_the_stand_in_ca_refuses_what_aws_refuses(tmp_path: Path, csr: str) -> None:
    with pytest.raises(IotCaError):
        IotCa(tmp_path / "ca").sign_csr(csr)


def test_the_stand_in_ca_refuses_an_unsupported_key_and_a_bad_signature(tmp_path: Path) -> None:
    ca = IotCa(tmp_path / "ca")
    with pytest.raises(IotCaError, match="EC or RSA"):
        ca.sign_csr(_ed25519_csr())
    with pytest.raises(IotCaError, match="signature"):
        ca.sign_csr(_tampered_csr())


@pytest.mark.parametrize("name", ["", "a/b", "a#", "x+", "a" * 129, "tab\there"])
def test_certificate_names_for_the_broker_are_checked(name: str) -> None:
    with pytest.raises(IotCaError):
        check_name(name)


class FakeIssuer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def issue(self, thing_name: str, policy_name: str, site_id: str, csr: str, thing_type: str | None = None) -> Any:
        from chalicelib.adapters.registry import SiteIdentity

        self.calls.append(("issue", thing_name))
        return SiteIdentity(thing_name, "cert-id", "arn:cert", "PEM")

    def revoke(self, thing_name: str, certificate_id: str | None, certificate_arn: str | None, policy_name: str, *,
               delete_thing: bool = True) -> None:
        self.calls.append(("revoke", thing_name, str(delete_thing)))


class FakeAccess:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, ...]] = []

    def grant_site(self, thing_name: str, attributes: dict[str, str]) -> list[dict[str, Any]]:
        if self.fail:
            raise RuntimeError("broker unreachable")
        self.calls.append(("grant", thing_name, attributes["site_id"]))
        return []

    def revoke_site(self, thing_name: str) -> None:
        self.calls.append(("revoke", thing_name))


def test_the_issuer_gives_a_site_access_and_takes_it_with_its_thing() -> None:
    inner, access = FakeIssuer(), FakeAccess()
    issuer = StandInIssuer(inner, access)  # type: ignore[arg-type]
    assert issuer.issue(THING, "policy", "school-1", "csr").certificate_id == "cert-id"
    issuer.revoke(THING, "old-cert", "arn:old", "policy", delete_thing=False)  # a re-enrolment: access stays
    assert access.calls == [("grant", THING, "school-1")]
    issuer.revoke(THING, "cert-id", "arn:cert", "policy")  # the site is gone
    assert access.calls[-1] == ("revoke", THING)


def test_an_identity_whose_access_cannot_be_given_is_undone() -> None:
    from chalicelib.errors import UpstreamError

    inner = FakeIssuer()
    issuer = StandInIssuer(inner, FakeAccess(fail=True))  # type: ignore[arg-type]
    with pytest.raises(UpstreamError, match="broker unreachable"):
        issuer.issue(THING, "policy", "school-1", "csr")
    assert inner.calls == [("issue", THING), ("revoke", THING, "False")]


def test_a_persistent_session_is_bounded() -> None:
    assert MqttSettings(client_id="x").session_expiry_s == 0  # clean sessions unless asked
    with pytest.raises(ValueError, match="session_expiry_s"):
        MqttSettings(client_id="x", session_expiry_s=-1)
