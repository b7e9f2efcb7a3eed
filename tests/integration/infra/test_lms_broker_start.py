"""``infra/lms/mosquitto-start.sh``, the site broker's start in the LMS's compose file, run for real outside a
container (its paths given by variables): it installs the LMS's TLS files for user ``mosquitto``, serves the
TLS listener with them, loads a renewed certificate with SIGHUP (no restart), and stops on SIGTERM."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest

from edge.lms.tls import SiteCa
from infra.local.broker_files import find_dynsec_plugin
from infra.local.mosquitto import TEMPLATE_DIR
from infra.local.ports import free_port
from infra.local.process import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="the script runs as root (chown to the broker's user)"),
]

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "infra" / "lms" / "mosquitto-start.sh"


def _broker_user() -> str:
    try:
        return pwd.getpwnam("mosquitto").pw_name
    except KeyError:
        pytest.skip("no `mosquitto` user (Debian's mosquitto package makes it)")


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ct-broker-start-"))  # traversable by `mosquitto` (not pytest's tmp_path)
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _served_certificate(port: int, ca_file: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname="localhost"
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_the_broker_serves_the_lms_certificate_and_reloads_a_renewed_one(work: Path) -> None:
    owner = _broker_user()
    ca = SiteCa.open(work / "site-ca", name="test site CA")
    source, target, data = work / "broker-tls", work / "tls", work / "data"
    data.mkdir()
    shutil.chown(data, owner, owner)

    def issue() -> None:
        ca.ensure_server(source / "broker.crt", source / "broker.key", common_name="broker", days=30,
                         names=["localhost", "127.0.0.1"], renew_before_s=31 * 86400, key_mode=0o640)  # fmt: skip
        shutil.copy(ca.cert_file, source / "ca.crt")

    issue()
    plain_port, tls_port = free_port(), free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(Template((TEMPLATE_DIR / "site-dynsec.conf.tmpl").read_text()).substitute(
        host="127.0.0.1", port=plain_port, tls="", tls_host="127.0.0.1", tls_port=tls_port,
        tls_ca_file=target / "ca.crt", tls_cert_file=target / "broker.crt", tls_key_file=target / "broker.key",
        dynsec_plugin=find_dynsec_plugin(), dynsec_file=data / "dynamic-security.json", data_dir=data,
        max_queued_messages=100,
    ))  # fmt: skip
    env = {
        "PATH": f"/usr/sbin:/usr/bin:/sbin:/bin:{os.environ.get('PATH', '')}", "BROKER_TLS_SOURCE": str(source),
        "BROKER_TLS_TARGET": str(target), "MOSQUITTO_CONF": str(conf),
        "DYNSEC_FILE": str(data / "dynamic-security.json"), "TLS_CHECK_S": "0.2", "BROKER_USER": owner,
        "CLASSTOP_LMS_DYNSEC_PASSWORD": secrets.token_urlsafe(12),
    }  # fmt: skip
    log = work / "broker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["sh", str(SCRIPT)], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        def serving() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return bool(_served_certificate(tls_port, ca.cert_file))
            except OSError:
                return False

        wait_for("the broker's TLS listener", serving, 15)
        key = target / "broker.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and pwd.getpwuid(key.stat().st_uid).pw_name == owner
        assert (data / "dynamic-security.json").is_file()
        first = _served_certificate(tls_port, ca.cert_file)
        assert first == ssl.PEM_cert_to_DER_cert((source / "broker.crt").read_text())

        issue()  # the LMS renews the broker's certificate (renew_before_s > its life: always due)
        renewed = ssl.PEM_cert_to_DER_cert((source / "broker.crt").read_text())
        assert renewed != first
        wait_for("the renewed certificate served", lambda: _served_certificate(tls_port, ca.cert_file) == renewed, 15)
        assert "reloading the broker" in log.read_text()
        assert proc.poll() is None  # reloaded, not restarted

        proc.send_signal(signal.SIGTERM)  # `docker stop`: Mosquitto is PID 1 of the container, the script exec'd
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        print(log.read_text(errors="replace")[-3000:])
    # the watcher left in the background notices that Mosquitto is gone and ends too
    wait_for("the certificate watcher to end", lambda: not _running(str(SCRIPT)), 5)


def _running(pattern: str) -> bool:
    return bool(subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False).stdout)
