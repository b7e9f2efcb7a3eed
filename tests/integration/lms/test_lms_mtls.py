"""The cloud link's production path: mutual TLS from the configured files (as with AWS IoT Core), here against
a Mosquitto TLS listener that requires a client certificate and takes its CN as the username."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from infra.local.mosquitto import MosquittoProcess
from shared import topics
from shared.messages import SiteHeartbeat, decode
from shared.topics import SiteUp
from tests.fixtures.brokers import MqttProbe
from tests.integration.lms.lms_harness import NS, SITE, LmsFactory

pytestmark = pytest.mark.integration

THING = topics.site_thing_name(NS, SITE)

TEMPLATE = """
per_listener_settings false
listener ${port} ${host}
cafile {dir}/ca.pem
certfile {dir}/server.pem
keyfile {dir}/server.key
require_certificate true
use_identity_as_username true
allow_anonymous false
acl_file ${acl_file}
persistence false
log_dest stderr
log_type all
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_pki(d: Path) -> None:
    """A CA, a server certificate for 127.0.0.1, and the site thing's client certificate (EC P-256)."""
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key", cwd=d)
    _openssl("req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=test-ca", "-days", "2", "-out", "ca.pem", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn, ext in (("server", "127.0.0.1", ["-extfile", "san.ext"]), ("client", THING, [])):
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={cn}", "-out", f"{name}.csr", cwd=d)
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-out", f"{name}.pem", *ext, cwd=d,
        )
    for f in d.iterdir():
        f.chmod(0o644)  # test keys: readable by the `mosquitto` user the broker switches to


@pytest.fixture
def tls_broker() -> Iterator[tuple[MosquittoProcess, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="ct-lms-tls-"))
    workdir.chmod(0o755)
    pki = workdir / "pki"
    pki.mkdir(mode=0o755)
    _make_pki(pki)
    template = workdir / "tls.conf.tmpl"
    template.write_text(TEMPLATE.replace("{dir}", str(pki)))
    # `#` matches no `$` topic: the LMS's Basic Ingest topics ($aws/rules/...) need their own line
    broker = MosquittoProcess(workdir / "broker", template=template,
                              acl_text="pattern readwrite #\npattern readwrite $aws/#\n")
    try:
        yield broker.start(), pki
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_cloud_link_over_mutual_tls(lms_factory: LmsFactory, tls_broker: tuple[MosquittoProcess, Path]) -> None:
    broker, pki = tls_broker
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-cloud")
    client.tls_set(ca_certs=str(pki / "ca.pem"), certfile=str(pki / "client.pem"), keyfile=str(pki / "client.key"),
                   cert_reqs=ssl.CERT_REQUIRED)
    probe = MqttProbe(client)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert probe.connected.wait(10), "test probe could not connect over TLS"
        heartbeat = topics.site_up(NS, SITE, SiteUp.HEARTBEAT)
        probe.subscribe(heartbeat)
        lms = lms_factory(
            broker.port,
            cloud_settings={
                "tls": {
                    "ca_file": str(pki / "ca.pem"),
                    "cert_file": str(pki / "client.pem"),
                    "key_file": str(pki / "client.key"),
                }
            },
        )
        lms.start(wait_cloud=True)
        beat = decode(SiteHeartbeat, probe.wait_for(heartbeat, timeout=10).payload)
        assert beat.full is True
        assert "mTLS" in lms.log()
        # the broker took the certificate's CN as the username, as IoT Core takes the thing's certificate
        assert f"u'{THING}'" in broker.log_path.read_text()
    finally:
        probe.close()
