"""Issue 11, item 5: the school LAN is TLS by default.

A host on the school LAN is the attacker: it speaks plain HTTP and plain MQTT to the LMS and the site broker,
tries TLS without the site CA, and impersonates the LMS to agents that enrol. Real processes throughout: the
LMS (``python -m edge.lms``), Mosquitto with the product's templates, agents (``python -m edge.agent``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as websockets_connect

from edge.lms.tls import SiteCa
from infra.lms import site_broker
from infra.local.mosquitto import BrokerTls, MosquittoProcess
from infra.local.ports import free_port
from shared import fingerprint
from tests.fixtures.brokers import Broker
from tests.integration.enrollment.agent_proc import AgentProc
from tests.integration.enrollment.site_lan import (
    MQTT_CONNECT,
    https_get,
    lan_address,
    listeners,
    pinned_context,
    plain_exchange,
    plain_http_get,
    tls_handshake,
    unverified_context,
    wait_listening,
)
from tests.integration.lms.lms_harness import REPO, eventually

pytestmark = pytest.mark.integration


class Lms:
    """``python -m edge.lms`` with a config file the test writes (no harness defaults)."""

    def __init__(self, workdir: Path, config_text: str, env: dict[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.config = workdir / "lms.toml"
        self.config.write_text(config_text)
        self.log = workdir / "lms.log"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("CLASSTOP_")}, **env,
                    "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.lms", "--config", str(self.config), *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def start(self) -> Lms:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge.lms", "--config", str(self.config)],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    # Not tmp_path: the `mosquitto` user cannot traverse pytest's 0700 base directory (tests/fixtures/brokers.py).
    path = Path(tempfile.mkdtemp(prefix="ct-tls-broker-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def assert_lan_listeners_need_tls(config_text: str, where: str) -> None:
    found = listeners(config_text)
    assert found, where
    for listener in found:
        if listener["address"] in ("127.0.0.1", "::1", "localhost"):
            continue
        assert {"cafile", "certfile", "keyfile"} <= set(listener), f"{where}: plain LAN listener {listener}"
    assert any(set(listener) >= {"certfile", "keyfile"} for listener in found), f"{where}: no TLS listener"


@pytest.fixture
def processes() -> Iterator[list[Lms]]:
    made: list[Lms] = []
    try:
        yield made
    finally:
        for lms in made:
            lms.stop()
            print(f"--- LMS log\n{lms.output()[-4000:]}")


def test_site_lan_is_tls_by_default(tmp_path: Path, broker_dir: Path, processes: list[Lms]) -> None:
    lan = lan_address()
    target = lan or "127.0.0.1"  # with no LAN interface, the all-interfaces listener is reached on loopback
    http_port, broker_tls_port = free_port(), free_port()
    password = secrets.token_urlsafe(16)
    # The LMS as a site would run it: no TLS settings at all, serving every interface.
    lms = Lms(
        tmp_path / "lms",
        f'tenant = "demo"\nsite_id = "school-1"\ndb_path = "lms.db"\nhttp_host = "0.0.0.0"\nhttp_port = {http_port}\n'
        f'[site_broker]\nhost = "127.0.0.1"\nport = {broker_tls_port}\nusername = "lms"\n[site_broker.tls]\n',
        {"CLASSTOP_LMS_BROKER_PASSWORD": password},
    )
    processes.append(lms.start())
    # The LMS makes the site CA and the broker's certificate first; the broker starts with them (the LMS
    # waits for it up to 10 s before it opens its web port).
    broker_files = lms.workdir / "site-ca" / "broker"
    made = broker_files / "broker.crt"
    eventually(lambda: made.exists() or lms.output().count("web API on"), 20, what="the LMS's first start step")
    broker = MosquittoProcess(
        broker_dir, template="site", users={"lms": password},
        tls=BrokerTls(broker_files / "ca.crt", broker_files / "broker.crt", broker_files / "broker.key",
                      port=broker_tls_port, host="0.0.0.0"),
    )  # fmt: skip
    if made.exists():
        broker.start()
    try:
        wait_listening("127.0.0.1", http_port)
        lan_attacks(lms, broker, target, lan, http_port)
    finally:
        broker.stop()


def lan_attacks(lms: Lms, broker: MosquittoProcess, target: str, lan: str | None, http_port: int) -> None:
    """What a host on the school LAN tries against the LMS and the broker of ``test_site_lan_is_tls_by_default``."""
    # 1. Plain HTTP from the LAN gets no HTTP answer at all.
    answer = plain_http_get(target, http_port, "/api/health")
    assert not answer.startswith(b"HTTP/"), f"the LMS answered plain HTTP on {target}:{http_port}: {answer[:60]!r}"
    # 2. TLS with the public trust store (what any client without the site CA has) is refused.
    ca_file = lms.workdir / "site-ca" / "ca.crt"
    assert ca_file.is_file() and stat.S_IMODE((ca_file.parent / "ca.key").stat().st_mode) == 0o600
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(target, http_port, ssl.create_default_context(), "localhost")
    # 3. The CA is published without credentials, and it is the one that certifies the LMS's HTTPS.
    published = https_get(target, http_port, "/api/enroll/ca", unverified_context(), "localhost")
    assert published.startswith(b"HTTP/1.1 200") and ca_file.read_bytes() in published
    assert https_get(target, http_port, "/api/health", pinned_context(ca_file), "localhost").startswith(b"HTTP/1.1 200")

    # 4. The site broker from the product's templates: every listener on the LAN is TLS ...
    assert_lan_listeners_need_tls(broker.config_path.read_text(), "the site template")
    assert_lan_listeners_need_tls(site_broker.RENDERED.read_text(), "the LMS container's broker")
    with pytest.raises(ValueError, match="plain MQTT listener"):
        MosquittoProcess(broker.workdir / "x", host="0.0.0.0")
    # ... plain MQTT from the LAN: the TLS port answers no CONNACK; the plain port is not on the LAN at all
    assert not plain_exchange(target, broker.tls_port, MQTT_CONNECT).startswith(b"\x20")
    if lan is not None:
        assert plain_exchange(lan, broker.port, MQTT_CONNECT) == b""
    assert plain_exchange("127.0.0.1", broker.port, MQTT_CONNECT).startswith(b"\x20")  # loopback: for the LMS
    # ... and TLS: the site CA certifies the broker, the public store does not.
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(target, broker.tls_port, ssl.create_default_context(), "localhost")
    assert tls_handshake(target, broker.tls_port, pinned_context(ca_file), "localhost").startswith("TLS")
    # 5. The LMS's own broker connection goes over TLS, verified against the site CA.
    with httpx.Client(base_url=f"https://localhost:{http_port}", verify=pinned_context(ca_file)) as api:
        eventually(lambda: api.get("/api/health").json()["data"]["site_broker"]["connected"], 20,
                   what="the LMS connected to the broker over TLS")  # fmt: skip


class Impostor:
    """A LAN host posing as the LMS: HTTPS with a certificate of its own CA; it hands out the *genuine* site CA
    (which is public) at ``/api/enroll/ca`` and records every request, to see whether a token arrives."""

    def __init__(self, directory: Path, genuine_ca_pem: str) -> None:
        own = SiteCa.open(directory / "ca", name="impostor")
        cert, key = directory / "server.crt", directory / "server.key"
        own.ensure_server(cert, key, common_name="lms", names=["localhost", "127.0.0.1"], days=2, renew_before_s=60)
        self.fingerprint = own.fingerprint
        self.requests: list[tuple[str, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                outer.requests.append(("GET", self.path, b""))
                self._answer(200, genuine_ca_pem.encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append(("POST", self.path, body))
                self._answer(500, b"{}")

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_agents_enrol_only_with_the_pinned_site_ca(tmp_path: Path, broker_dir: Path, processes: list[Lms]) -> None:
    http_port, broker_tls_port = free_port(), free_port()
    secrets_ = {"lms": secrets.token_urlsafe(16), "dynsec": secrets.token_urlsafe(16)}
    admin = "ctl_" + secrets.token_urlsafe(24)
    lms = Lms(
        tmp_path / "lms",
        f'tenant = "demo"\nsite_id = "school-1"\ndb_path = "lms.db"\nhttp_port = {http_port}\n'
        f'[site_broker]\nhost = "127.0.0.1"\nport = {broker_tls_port}\nusername = "lms"\n[site_broker.tls]\n'
        '[site_broker.dynsec]\nusername = "dynsec-admin"\n',
        {"CLASSTOP_LMS_BROKER_PASSWORD": secrets_["lms"], "CLASSTOP_LMS_DYNSEC_PASSWORD": secrets_["dynsec"],
         "CLASSTOP_LMS_ADMIN_TOKEN": admin},
    )  # fmt: skip
    # The site CA before the broker's first start: `python -m edge.lms ... tls` prints the fingerprint to pin,
    # the same that openssl computes from the certificate.
    made = lms.run("tls")
    assert made.returncode == 0, made.stderr
    ca_hash = made.stdout.strip()
    ca_file, files = lms.workdir / "site-ca" / "ca.crt", lms.workdir / "site-ca" / "broker"
    by_openssl = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(ca_file)],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ca_hash == fingerprint.normalise("sha256:" + by_openssl.strip().split("=", 1)[1])
    broker = MosquittoProcess(
        broker_dir, template="site-dynsec", dynsec_admin=("dynsec-admin", secrets_["dynsec"]),
        tls=BrokerTls(files / "ca.crt", files / "broker.crt", files / "broker.key", port=broker_tls_port),
    )  # fmt: skip
    impostor = Impostor(tmp_path / "impostor", ca_file.read_text())
    try:
        broker.start()
        processes.append(lms.start())
        api = httpx.Client(base_url=f"https://localhost:{http_port}", verify=pinned_context(ca_file),
                           headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        eventually(lambda: api.get("/api/health").json()["data"]["site_broker"]["connected"], 30, what="LMS up")
        created = api.post("/api/enrollment-tokens", json={"max_uses": 3}).json()["data"]
        assert created["ca_hash"] == ca_hash  # shown where the token is made
        token = created["token"]

        # The right hash, but the LMS's address answered by the impostor: it gets the public CA, never the token.
        fooled = AgentProc(tmp_path / "a1", "room-1", impostor.url, ca_hash).start(token)
        assert fooled.proc is not None and fooled.proc.wait(30) == 1
        assert "not certified by the pinned site CA" in fooled.output() and "token was not sent" in fooled.output()
        assert [(method, path) for method, path, _ in impostor.requests] == [("GET", "/api/enroll/ca")]
        assert not any(token.encode() in body for _, _, body in impostor.requests)
        # A wrong hash (the impostor's CA) against the real LMS: stops before sending the token.
        wrong = AgentProc(tmp_path / "a2", "room-2", f"https://localhost:{http_port}", impostor.fingerprint)
        assert wrong.start(token).proc is not None and wrong.proc.wait(30) == 1  # type: ignore[union-attr]
        assert f"has fingerprint {ca_hash}, not the configured enroll.ca_hash" in wrong.output()
        assert [t["uses"] for t in api.get("/api/enrollment-tokens").json()["data"]["tokens"]] == [0]
        for agent in (fooled, wrong):
            assert not agent.credentials_path.exists()

        # The right hash and the real LMS: enrolled, and connected to the broker's TLS port with the pinned CA.
        agent = AgentProc(tmp_path / "a3", "room-3", f"https://localhost:{http_port}", ca_hash).start(token)
        eventually(lambda: api.get("/api/clients/room-3").json().get("data", {}).get("status") == "online", 30,
                   what="room-3 online")  # fmt: skip
        creds = json.loads(agent.credentials_path.read_text())
        assert (creds["tls"], creds["port"], creds["ca_hash"]) == (True, broker.tls_port, ca_hash)
        assert (agent.state_dir / "site-ca.pem").read_text() == ca_file.read_text()
        assert [t["uses"] for t in api.get("/api/enrollment-tokens").json()["data"]["tokens"]] == [1]
        assert agent.stop() == 0
        api.close()
    finally:
        impostor.close()
        broker.stop()


def test_plain_http_for_classtop_clients_is_a_logged_opt_in_for_their_paths_only(
    tmp_path: Path, site_broker: Broker, processes: list[Lms]
) -> None:
    lan = lan_address() or "127.0.0.1"
    http_port, plain_port = free_port(), free_port()
    admin = "ctl_" + secrets.token_urlsafe(24)
    lms = Lms(
        tmp_path / "lms",
        f'tenant = "demo"\nsite_id = "school-1"\ndb_path = "lms.db"\nhttp_host = "0.0.0.0"\nhttp_port = {http_port}\n'
        f'[classtop_plain_http]\nhost = "0.0.0.0"\nport = {plain_port}\n'
        '[classtop]\nclient_policy = "open"\n'  # admission is tested elsewhere (test_classtop_lan.py)
        f'[site_broker]\nhost = "{site_broker.host}"\nport = {site_broker.port}\nusername = "lms"\n',
        {"CLASSTOP_LMS_BROKER_PASSWORD": site_broker.passwords["lms"], "CLASSTOP_LMS_ADMIN_TOKEN": admin},
    )  # fmt: skip
    processes.append(lms.start())
    wait_listening("127.0.0.1", plain_port)
    assert "plain HTTP for ClassTop clients on 0.0.0.0:" in lms.output() and "explicit opt-in" in lms.output()
    uuid = "6f1c1a57-8f59-4a53-9c38-0e5a1d2a0b3c"
    with httpx.Client(base_url=f"http://{lan}:{plain_port}", timeout=10) as plain:
        # what an unchanged ClassTop client does over plain HTTP works ...
        assert plain.get("/api/health").json()["success"] is True
        assert plain.post("/api/clients/register", json={"uuid": uuid, "name": "", "api_url": ""}).status_code == 200
        synced = plain.post("/api/sync", json={"client_uuid": uuid, "courses": [], "schedule_entries": []})
        assert synced.json()["data"] == {"synced_courses": 0, "synced_entries": 0}
        assert plain.get(f"/api/clients/{uuid}/courses").json()["data"] == {"courses": []}
        assert plain.get(f"/api/clients/{uuid}/schedule").json()["data"] == {"schedule_entries": []}
        # ... and nothing else: no token, no enrolment, no console ever travels in clear
        for method, path in (("GET", "/api/clients/"), ("POST", "/api/enroll"), ("GET", "/api/enroll/ca"),
                             ("POST", "/api/enrollment-tokens"), ("GET", "/"), ("GET", "/docs")):  # fmt: skip
            r = plain.request(method, path, headers={"Authorization": f"Bearer {admin}"}, json={})
            assert r.status_code == 404 and f"use https on port {http_port}" in r.json()["error"], (method, path)
    with websockets_connect(f"ws://{lan}:{plain_port}/ws/{uuid}", open_timeout=10) as ws:  # the remote control
        ws.send(json.dumps({"type": "heartbeat", "timestamp": 1.0}))
    with pytest.raises(InvalidStatus):
        websockets_connect(f"ws://{lan}:{plain_port}/api/events", open_timeout=10)
    # the main port stays HTTPS only
    assert not plain_http_get(lan, http_port, "/api/health").startswith(b"HTTP/")


def test_a_public_certificate_for_classtop_clients_leaves_agents_on_the_site_ca(
    tmp_path: Path, site_broker: Broker, processes: list[Lms]
) -> None:
    # `tls_cert_file`: a certificate of a CA that ClassTop clients' bundles trust ("public"), for the LMS's name.
    public = SiteCa.open(tmp_path / "public-ca", name="a public CA")
    cert, key = tmp_path / "lms.crt", tmp_path / "lms.key"
    public.ensure_server(cert, key, common_name="lms", names=["lms.school-1.example.org"], days=30,
                         renew_before_s=60)  # fmt: skip
    http_port = free_port()
    lms = Lms(
        tmp_path / "lms",
        f'tenant = "demo"\nsite_id = "school-1"\ndb_path = "lms.db"\nhttp_host = "0.0.0.0"\nhttp_port = {http_port}\n'
        f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\n'
        f'[site_broker]\nhost = "{site_broker.host}"\nport = {site_broker.port}\nusername = "lms"\n',
        {"CLASSTOP_LMS_BROKER_PASSWORD": site_broker.passwords["lms"]},
    )  # fmt: skip
    processes.append(lms.start())
    wait_listening("127.0.0.1", http_port)
    site_ca = lms.workdir / "site-ca" / "ca.crt"
    # a ClassTop client asking for the public name gets the public certificate ...
    assert tls_handshake("127.0.0.1", http_port, pinned_context(public.cert_file), "lms.school-1.example.org")
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake("127.0.0.1", http_port, pinned_context(site_ca), "lms.school-1.example.org")
    # ... every other name and a connection by address (no SNI) get the site CA's: agents keep their pin
    assert tls_handshake("127.0.0.1", http_port, pinned_context(site_ca), "localhost")
    no_sni = pinned_context(site_ca)
    no_sni.check_hostname = False
    assert tls_handshake("127.0.0.1", http_port, no_sni, "127.0.0.1")
    assert "for lms.school-1.example.org, the site CA's certificate for every other name" in lms.output()
