"""The LMS container's entrypoint, run for real: the lms.toml it writes passes the LMS's own validation, and
enrolment runs against a local HTTP server standing in for the cloud's ``POST /api/lms/register`` (which signs the
CSR it receives, as AWS IoT's ``CreateCertificateFromCsr`` does: ``tests/fixtures/register_cloud.py``)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge.lms.config import load_config
from infra.lms.entrypoint import API_KEY_FILE, CERT_FILE, ENROLMENT_FILE, KEY_FILE, main
from tests.fixtures.register_cloud import BASE_ENV, SPKI, CloudStandIn, registered


def test_site_only_config_passes_the_lms_validation(tmp_path: Path) -> None:
    assert main(["--dry-run"], {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path)}) == 0
    cfg = load_config(tmp_path / "lms.toml", env=BASE_ENV)
    assert (cfg.tenant, cfg.site_id, cfg.cloud) == ("district-a", "school-1", None)
    assert cfg.db_path == tmp_path / "lms.db" and cfg.site_broker.host == "mosquitto"
    # TLS on the LAN: HTTPS on 8000, the broker's TLS port (site CA), agents told the same
    assert cfg.http_tls and cfg.http_host == "0.0.0.0" and cfg.site_tls.dir == tmp_path / "site-ca"
    assert cfg.site_broker.port == 8883 and cfg.site_broker.tls is not None
    assert cfg.site_broker.advertised() == ("mosquitto", 8883, True)
    assert cfg.site_tls.broker_dir == tmp_path / "broker-tls"
    assert stat.S_IMODE((tmp_path / "lms.toml").stat().st_mode) == 0o600


def test_enrols_once_and_writes_a_config_with_the_certificate(
        register_cloud: tuple[CloudStandIn, str], tmp_path: Path) -> None:
    state, api = register_cloud
    state.body = registered()
    env = {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), "CLASSTOP_CLOUD_API": api,
           "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com", "CLASSTOP_ENROLMENT_TOKEN": "cte_secret",
           "CLASSTOP_LMS_ADVERTISE_HOST": "lms.school-1.lan"}
    assert main(["--dry-run"], env) == 0
    path, headers, body = state.requests[0]
    assert path == "/api/api/lms/register"  # API Gateway stage /api + the route /api/lms/register
    assert headers["Authorization"] == "Bearer cte_secret"
    assert body["lms_uuid"] == "school-1" and body["host"] == "lms.school-1.lan" and body["port"] == 8000
    certs = tmp_path / "certs"
    assert (certs / CERT_FILE).read_text().startswith("-----BEGIN CERTIFICATE-----")
    for name in (KEY_FILE, CERT_FILE, API_KEY_FILE, ENROLMENT_FILE):
        assert stat.S_IMODE((certs / name).stat().st_mode) == 0o600, name
    cfg = load_config(tmp_path / "lms.toml", env=BASE_ENV)
    assert cfg.cloud is not None and cfg.cloud.host == "abc-ats.iot.eu-west-1.amazonaws.com"
    assert cfg.cloud.tls is not None and cfg.cloud.tls.cert_file == certs / CERT_FILE
    # a restart does not enrol again (the token is spent)
    assert main(["--dry-run"], {**env, "CLASSTOP_ENROLMENT_TOKEN": ""}) == 0
    assert len(state.requests) == 1


def test_a_refused_enrolment_is_a_clear_error_and_writes_nothing(
        register_cloud: tuple[CloudStandIn, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, api = register_cloud
    state.status = 401
    state.body = lambda request: {"success": False, "error": "unknown, used or expired enrolment token"}
    env = {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), "CLASSTOP_CLOUD_API": api,
           "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com", "CLASSTOP_ENROLMENT_TOKEN": "cte_old"}
    assert main(["--dry-run"], env) == 1
    err = capsys.readouterr().err
    assert "enrolment refused" in err and "HTTP 401" in err and "expired enrolment token" in err
    assert list(tmp_path.iterdir()) == []
    # a token bound to another site
    state.status, state.body = 200, registered("school-9")
    assert main(["--dry-run"], env) == 2
    assert "the token is for site 'school-9'" in capsys.readouterr().err
    assert not (tmp_path / "certs" / CERT_FILE).exists()
    # a certificate for another key than the one made here
    state.body = registered(key=ec.generate_private_key(ec.SECP256R1()))
    assert main(["--dry-run"], env) == 1
    assert "not for the key made here" in capsys.readouterr().err
    assert not (tmp_path / "certs" / CERT_FILE).exists() and not (tmp_path / "certs" / KEY_FILE).exists()


def test_site_private_key_never_leaves_site(register_cloud: tuple[CloudStandIn, str], tmp_path: Path) -> None:
    """The LMS side of issue 11 item 8: the key is made here, only its CSR is sent, and the certificate the cloud
    returns is stored beside the key it belongs to."""
    state, api = register_cloud
    state.body = registered()
    env = {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), "CLASSTOP_CLOUD_API": api,
           "CLASSTOP_IOT_ENDPOINT": "abc-ats.iot.eu-west-1.amazonaws.com", "CLASSTOP_ENROLMENT_TOKEN": "cte_secret"}
    assert main(["--dry-run"], env) == 0
    _, _, body = state.requests[0]
    assert "PRIVATE KEY" not in json.dumps(body) and set(body) == {"lms_uuid", "name", "host", "port", "version",
                                                                   "csr"}
    request = x509.load_pem_x509_csr(body["csr"].encode())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=ct--district-a--dev--school-1"
    certs = tmp_path / "certs"
    key = serialization.load_pem_private_key((certs / KEY_FILE).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert stat.S_IMODE((certs / KEY_FILE).stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate((certs / CERT_FILE).read_bytes())
    assert certificate.public_key().public_bytes(*SPKI) == key.public_key().public_bytes(*SPKI) \
        == request.public_key().public_bytes(*SPKI)


@pytest.mark.parametrize(("change", "message"), [
    ({"CLASSTOP_TENANT": ""}, "CLASSTOP_TENANT is not set"),
    ({"CLASSTOP_SITE_ID": "bad/site"}, "invalid site id"),
    ({"CLASSTOP_IOT_ENDPOINT": "x-ats.iot", "CLASSTOP_CLOUD_API": "", "CLASSTOP_ENROLMENT_TOKEN": "t"},
     "CLASSTOP_CLOUD_API is not set"),
    ({"CLASSTOP_IOT_ENDPOINT": "x-ats.iot", "CLASSTOP_CLOUD_API": "https://api", "CLASSTOP_ENROLMENT_TOKEN": ""},
     "CLASSTOP_ENROLMENT_TOKEN is not set"),
])
def test_missing_or_invalid_settings_exit_2(change: dict[str, str], message: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run"], {**BASE_ENV, "CLASSTOP_DATA_DIR": str(tmp_path), **change}) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "lms.toml").exists()
