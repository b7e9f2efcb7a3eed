"""Issue 11, item 5: the school LAN is TLS by default.

A host on the school LAN is the attacker: it speaks plain HTTP and plain MQTT to the LMS and the site broker,
tries TLS without the site CA, and impersonates the LMS to agents that enrol. Real processes throughout: the
LMS (``python -m edge.lms``), Mosquitto with the product's templates, agents (``python -m edge.agent``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.lms import site_broker
from infra.local.mosquitto import BrokerTls, MosquittoProcess, free_port
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
