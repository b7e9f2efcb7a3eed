"""``edge.lms.tls.http_listener``: a renewed certificate is served from the next handshake on; an operator's
certificate only to clients asking for its names; the periodic site-TLS check reports renewals."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from edge.lms.config import parse_config
from edge.lms.tls import (
    CertificateWatch,
    HttpListener,
    ListenerError,
    NamedCertificate,
    SiteCa,
    SiteTls,
    TlsFiles,
    plain_variant,
)
from infra.local.ports import free_port


async def app(scope: Scope, receive: Receive, send: Send) -> None:  # a minimal ASGI app
    raise AssertionError("no request is made")


def served(port: int, ca_file: Path, name: str = "localhost") -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=name
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


@pytest.fixture
def ca(tmp_path: Path) -> SiteCa:
    return SiteCa.open(tmp_path / "ca", name="site CA")


def issue(ca: SiteCa, directory: Path, names: list[str]) -> tuple[Path, Path]:
    cert, key = directory / f"{names[0]}.crt", directory / f"{names[0]}.key"
    ca.ensure_server(cert, key, common_name=names[0], names=names, days=30, renew_before_s=31 * 86400)
    return cert, key


@pytest.fixture
def listener(ca: SiteCa, tmp_path: Path) -> Iterator[tuple[HttpListener, Path, Path]]:
    cert, key = issue(ca, tmp_path, ["localhost", "127.0.0.1"])
    config = uvicorn.Config(app, log_config=None, lifespan="off", ssl_certfile=cert, ssl_keyfile=key)
    server = HttpListener("test API", config, "127.0.0.1", free_port()).start()
    try:
        yield server, cert, key
    finally:
        server.stop()


def test_a_renewed_certificate_is_served_without_a_restart(
    listener: tuple[HttpListener, Path, Path], ca: SiteCa
) -> None:
    server, cert, key = listener
    first = served(server.port, ca.cert_file)
    assert first == ssl.PEM_cert_to_DER_cert(cert.read_text())
    issue(ca, cert.parent, ["localhost", "127.0.0.1"])  # always due: a new certificate and key in place
    server.reload_certificate(cert, key)
    renewed = served(server.port, ca.cert_file)
    assert renewed != first and renewed == ssl.PEM_cert_to_DER_cert(cert.read_text())
    with pytest.raises(ValueError, match="not been loaded"):
        plain_variant(server.config, app)  # a loaded config carries its TLS context


def test_an_operator_certificate_goes_to_its_names_only(ca: SiteCa, tmp_path: Path) -> None:
    public = SiteCa.open(tmp_path / "public", name="public CA")
    named = NamedCertificate(*issue(public, tmp_path, ["lms.example.org", "*.school.example.org"]))
    assert named.matches("LMS.example.org.") and named.matches("room1.school.example.org")
    assert not named.matches("a.b.school.example.org") and not named.matches(None) and not named.matches("x.org")
    cert, key = issue(ca, tmp_path, ["localhost"])
    config = uvicorn.Config(app, log_config=None, lifespan="off", ssl_certfile=cert, ssl_keyfile=key)
    server = HttpListener("test API", config, "127.0.0.1", free_port(), named=named).start()
    try:
        assert served(server.port, public.cert_file, "lms.example.org")
        assert served(server.port, ca.cert_file, "localhost")
    finally:
        server.stop()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ListenerError, match="unusable tls_cert_file/tls_key_file"):
        NamedCertificate(bad, bad)


def test_the_periodic_check_reports_renewals(tmp_path: Path) -> None:
    env = {"CLASSTOP_LMS_BROKER_PASSWORD": "p"}
    cfg = parse_config({"tenant": "demo", "site_id": "s1"}, base_dir=tmp_path, env=env)
    now = [1_900_000_000.0]
    site_tls = SiteTls(cfg, clock=lambda: now[0])
    first = site_tls.ensure()
    renewals: list[TlsFiles] = []
    seen = threading.Event()

    def renewed(files: TlsFiles) -> None:
        renewals.append(files)
        seen.set()

    checker = CertificateWatch(SiteTls(cfg, clock=lambda: now[0]), on_renewed=renewed, check_interval_s=0.02,
                               clock=lambda: now[0]).start()  # fmt: skip
    try:
        assert not seen.wait(0.2)  # nothing due: nothing reported
        now[0] += (cfg.site_tls.cert_days - cfg.site_tls.renew_before_days + 1) * 86400
        assert seen.wait(60)  # renewal makes new keys: slow on a loaded machine
    finally:
        checker.stop()
    files = renewals[0]
    assert files.lms.renewed and files.broker.renewed and files.fingerprint == first.fingerprint  # same CA
    assert files.lms.not_after > first.lms.not_after
