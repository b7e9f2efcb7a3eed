"""HTTPS/WSS on the LMS (``tls_cert_file`` / ``tls_key_file``): a ClassTop client pointed at
``https://<host>`` syncs and connects its WebSocket over TLS, checking the certificate (self-signed here,
made by ``openssl`` and trusted by the client as its CA bundle)."""

from __future__ import annotations

import shutil
import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.brokers import Broker
from tests.integration.legacy.conftest import ClientFactory, start_lms
from tests.integration.lms.lms_harness import LmsProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


def make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "lms.crt", directory / "lms.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_lms(module_broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LmsProcess, Path]]:
    tmp = tmp_path_factory.mktemp("legacy-tls")
    cert, key = make_cert(tmp)
    lms = start_lms(tmp, module_broker, tls=(cert, key), classtop={"client_policy": "open"})
    try:
        yield lms, cert
    finally:
        lms.close()


def test_https_sync_and_wss_control(tls_lms: tuple[LmsProcess, Path], classtop_client: ClientFactory) -> None:
    lms, cert = tls_lms
    assert lms.base_url.startswith("https://localhost:")
    uuid = str(uuidlib.uuid4())
    with httpx.Client(base_url=lms.base_url, verify=str(cert), timeout=10.0) as anon:
        assert anon.get("/api/health").json()["success"] is True
        assert anon.post("/api/clients/register", json={"uuid": uuid, "name": "", "api_url": ""}).status_code == 200
        r = anon.post("/api/sync", json={"client_uuid": uuid, "courses": [], "schedule_entries": []})
        assert r.json()["data"] == {"synced_courses": 0, "synced_entries": 0}
    # a client that does not trust the certificate gets nowhere
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=lms.base_url, timeout=10.0) as untrusting:
        untrusting.get("/api/health")
    # plain HTTP on the TLS port is refused too
    with pytest.raises(httpx.HTTPError):
        httpx.get(lms.base_url.replace("https://", "http://") + "/api/health", timeout=5.0)

    classtop_client(lms.base_url, uuid, "--cafile", str(cert))
    info = lms.wait_agent(uuid, "online", timeout=15.0)
    assert info["kind"] == "legacy"
    r = lms.http.get(f"/api/settings/{uuid}/server_url")
    assert r.status_code == 200 and r.json()["data"] == lms.base_url


def test_unusable_certificate_fails_start(module_broker: Broker, tmp_path: Path) -> None:
    cert, key = tmp_path / "bad.crt", tmp_path / "bad.key"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    with pytest.raises(RuntimeError, match=r"(?s)exited with 1.*unusable tls_cert_file"):
        start_lms(tmp_path, module_broker, tls=(cert, key), verify=False)
