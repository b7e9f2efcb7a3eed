"""The site CA (``edge.lms.tls.site_ca``) and the LMS's use of it (``edge.lms.tls.site_tls``): made once, key 0600,
certificates for the site's names, renewed before their end or when the names change, never a broken pair."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from edge.lms.config import parse_config
from edge.lms.tls import SiteCa, SiteCaError, SiteTls, site_names
from shared import fingerprint
from tests.fixtures.clock import Clock

DAY = 86400.0
ENV = {"CLASSTOP_LMS_BROKER_PASSWORD": "pw"}


def _names(cert_file: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def test_the_ca_is_made_once_with_a_private_key_and_reused(tmp_path: Path) -> None:
    ca = SiteCa.open(tmp_path / "ca", name="ClassTop site CA demo/s1")
    assert ca.created and stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ca").stat().st_mode) == 0o700
    again = SiteCa.open(tmp_path / "ca", name="ignored")
    assert not again.created and again.fingerprint == ca.fingerprint
    # the fingerprint is the certificate's (what openssl shows), in the shared format agents check
    assert ca.fingerprint == fingerprint.of_pem(ca.cert_file.read_text()) == fingerprint.normalise(ca.fingerprint)
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0


def test_a_server_certificate_verifies_against_the_ca_for_its_names(tmp_path: Path) -> None:
    ca = SiteCa.open(tmp_path / "ca", name="site CA")
    cert, key = tmp_path / "srv.crt", tmp_path / "srv.key"
    made = ca.ensure_server(cert, key, common_name="lms", names=["lms.school.lan", "192.168.1.10", "0::1"], days=30,
                            renew_before_s=DAY)  # fmt: skip
    assert made.renewed == "none yet" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert _names(cert) == {"lms.school.lan", "192.168.1.10", "::1"}
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)  # a usable pair
    client = ssl.create_default_context(cafile=str(ca.cert_file))
    assert client.get_ca_certs()[0]["subject"] == ((("commonName", "site CA"),),)
    kept = ca.ensure_server(cert, key, common_name="lms", names=["192.168.1.10", "::1", "LMS.school.lan"], days=30,
                            renew_before_s=DAY)  # fmt: skip
    assert kept.renewed is None  # same names, however spelt


def test_renewal_before_the_end_when_names_change_and_under_another_ca(tmp_path: Path) -> None:
    clock = Clock(1_900_000_000.0)
    ca = SiteCa.open(tmp_path / "ca", name="site CA", clock=clock)
    cert, key = tmp_path / "srv.crt", tmp_path / "srv.key"

    def ensure(names: list[str], authority: SiteCa = ca) -> str | None:
        return authority.ensure_server(cert, key, common_name="x", names=names, days=30, renew_before_s=5 * DAY,
                                       key_mode=0o640).renewed  # fmt: skip

    assert ensure(["a.lan"]) == "none yet"
    assert stat.S_IMODE(key.stat().st_mode) == 0o640
    first = cert.read_bytes()
    clock.now += 24 * DAY
    assert ensure(["a.lan"]) is None and cert.read_bytes() == first  # 6 days left: kept
    clock.now += 2 * DAY
    assert (ensure(["a.lan"]) or "").startswith("ends on")  # 4 days left: renewed
    assert ensure(["a.lan", "b.lan"]) == "made for ['a.lan'], now ['a.lan', 'b.lan']"
    other = SiteCa.open(tmp_path / "other", name="another CA", clock=clock)
    assert ensure(["a.lan", "b.lan"], other) == "not signed by this site CA"  # another CA takes over ...
    assert ensure(["a.lan", "b.lan"]) == "not signed by this site CA"  # ... and the site CA re-issues it
    key.write_text("garbage")
    assert (ensure(["a.lan", "b.lan"]) or "").startswith("unreadable")


def test_a_certificate_never_outlives_its_ca(tmp_path: Path) -> None:
    clock = Clock(1_900_000_000.0)
    ca = SiteCa.open(tmp_path / "ca", name="site CA", clock=clock)
    clock.now = ca.not_after - 10 * DAY
    made = ca.ensure_server(tmp_path / "c", tmp_path / "k", common_name="x", names=["a"], days=397, renew_before_s=DAY)
    assert made.not_after <= ca.not_after


def test_a_broken_or_expired_ca_is_a_clear_error(tmp_path: Path) -> None:
    clock = Clock(1_900_000_000.0)
    ca = SiteCa.open(tmp_path / "ca", name="site CA", clock=clock)
    clock.now = ca.not_after + 1
    with pytest.raises(SiteCaError, match="expired on"):
        SiteCa.open(tmp_path / "ca", name="site CA", clock=clock)
    (tmp_path / "ca" / "ca.key").unlink()
    with pytest.raises(SiteCaError, match="incomplete or unreadable"):
        SiteCa.open(tmp_path / "ca", name="site CA")
    other = SiteCa.open(tmp_path / "other", name="x")
    (tmp_path / "ca" / "ca.key").write_bytes((tmp_path / "other" / "ca.key").read_bytes())
    with pytest.raises(SiteCaError, match="does not belong to its certificate"):
        SiteCa.open(tmp_path / "ca", name="site CA")
    assert other.fingerprint != ca.fingerprint


def test_a_readable_ca_key_is_made_private_again(tmp_path: Path) -> None:
    SiteCa.open(tmp_path / "ca", name="site CA")
    (tmp_path / "ca" / "ca.key").chmod(0o644)
    SiteCa.open(tmp_path / "ca", name="site CA")
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600


def test_the_lms_certificates_carry_the_site_names_and_the_broker_gets_its_files(tmp_path: Path) -> None:
    cfg = parse_config(
        {"tenant": "demo", "site_id": "s1", "http_host": "0.0.0.0", "site_tls": {"hosts": ["lms.school-1.lan"]},
         "site_broker": {"host": "mosquitto", "port": 8883, "tls": {},
                         "dynsec": {"advertise_host": "192.168.1.10", "password": "x"}}},
        base_dir=tmp_path, env=ENV,
    )  # fmt: skip
    names = set(site_names(cfg))
    assert {"localhost", "127.0.0.1", "::1", "lms.school-1.lan", "mosquitto", "192.168.1.10"} <= names
    assert "0.0.0.0" not in names  # a wildcard is no name
    files = SiteTls(cfg).ensure()
    assert files.lms.cert_file == tmp_path / "site-ca" / "lms.crt"
    assert {p.name for p in (tmp_path / "site-ca" / "broker").iterdir()} == {"ca.crt", "broker.crt", "broker.key"}
    assert (tmp_path / "site-ca" / "broker" / "ca.crt").read_text() == files.ca_pem
    assert stat.S_IMODE(files.broker.key_file.stat().st_mode) == 0o640
    assert _names(files.lms.cert_file) == _names(files.broker.cert_file) >= {"lms.school-1.lan", "mosquitto"}
    again = SiteTls(cfg).ensure()
    assert again.fingerprint == files.fingerprint and again.lms.renewed is None and again.broker.renewed is None
