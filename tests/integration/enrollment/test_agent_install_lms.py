"""Issue 19, "Install": the agent from its wheel on a fresh machine, enrolled with ``classtop-agent enrol``.

Real processes throughout: the agent wheel built from this repository (``python -m infra.agent_package``) and
installed into a fresh venv (:mod:`tests.integration.enrollment.agent_venv`: ``--no-deps``, its dependencies
linked from this venv, nothing else importable); the LMS (``python -m edge.lms``) with the dynamic-security
broker and site TLS, configured as the container's entrypoint writes it from ``site.env`` (``infra/lms/entrypoint.py``);
Mosquitto from the product's template, its TLS listener on every interface. The LMS reaches the broker at its
internal address (``mosquitto`` in compose, loopback here); agents must be given the advertised one
(``CLASSTOP_LMS_ADVERTISE_HOST`` → ``[site_broker.dynsec] advertise_host``), the mini-PC's LAN address here.

The attacker is a host on the school LAN answering at the LMS's address when a technician enrols a PC: with a
CA of its own, or handing out the genuine (public) site CA with a certificate of its own.
"""

from __future__ import annotations

import json
import os
import pty
import secrets
import shutil
import stat
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from edge.lms.tls import SiteCa
from infra import agent_package
from infra.lms import entrypoint
from infra.local.mosquitto import BrokerTls, MosquittoProcess
from infra.local.ports import free_port
from infra.local.toml_writer import dumps
from tests.integration.enrollment.agent_venv import InstalledAgent, Machine, clean_env, make_venv, requires
from tests.integration.enrollment.site_lan import lan_address, pinned_context
from tests.integration.enrollment.test_site_tls import Impostor, Lms
from tests.integration.lms.lms_harness import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]


@dataclass
class Site:
    lms: Lms
    api: httpx.Client
    url: str
    ca_hash: str
    ca_file: Path
    internal: tuple[str, int]  # the LMS's own broker address (loopback here, `mosquitto` in compose)
    advertised: tuple[str, int]  # what agents are told: CLASSTOP_LMS_ADVERTISE_HOST
    impostor: Impostor  # a CA of its own
    copycat: Impostor  # the genuine CA handed out, a certificate of its own

    def token(self) -> str:
        r = self.api.post("/api/enrollment-tokens", json={"max_uses": 1, "note": "agent install"})
        assert r.status_code == 201, r.text
        token: str = r.json()["data"]["token"]
        return token

    def uses(self) -> list[int]:
        return [t["uses"] for t in self.api.get("/api/enrollment-tokens").json()["data"]["tokens"]]


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("agent-install")
    wheel = agent_package.build(root / "dist")
    return make_venv(root, wheel)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("site")
    broker_dir = Path(tempfile.mkdtemp(prefix="ct-agent-install-broker-"))  # the mosquitto user must reach it
    http_port, tls_port = free_port(), free_port()
    advertise_host = lan_address() or "localhost"  # where PCs reach the mini-PC; never the LMS's own broker host
    secrets_ = {"lms": secrets.token_urlsafe(16), "dynsec": secrets.token_urlsafe(16)}
    admin = "ctl_" + secrets.token_urlsafe(24)
    # The LMS's configuration as the container's entrypoint writes it from site.env: it reaches the broker at
    # its own (internal) address — `mosquitto` in compose, loopback here — and advertises the mini-PC's name.
    data_dir = tmp / "lms"
    data_dir.mkdir()
    cfg = entrypoint.config({"CLASSTOP_TENANT": "demo", "CLASSTOP_SITE_ID": "school-1",
                             "CLASSTOP_LMS_ADVERTISE_HOST": advertise_host, "CLASSTOP_BROKER_HOST": "127.0.0.1",
                             "CLASSTOP_BROKER_PORT": str(tls_port)}, data_dir)  # fmt: skip
    assert cfg["site_broker"]["dynsec"]["advertise_host"] == advertise_host
    # The container publishes the broker's 8883 as the host's 8883; here the broker's TLS port is a free one.
    assert cfg["site_broker"]["dynsec"]["advertise_port"] == 8883
    cfg["site_broker"]["dynsec"]["advertise_port"] = tls_port
    cfg["http_port"] = http_port
    lms = Lms(
        data_dir, dumps(cfg),
        {"CLASSTOP_LMS_BROKER_PASSWORD": secrets_["lms"], "CLASSTOP_LMS_DYNSEC_PASSWORD": secrets_["dynsec"],
         "CLASSTOP_LMS_ADMIN_TOKEN": admin},
    )  # fmt: skip
    made = lms.run("tls")  # the site CA and the broker's certificate (carrying advertise_host) first
    assert made.returncode == 0, made.stderr
    files, ca_file = data_dir / "broker-tls", data_dir / "site-ca" / "ca.crt"
    broker = MosquittoProcess(
        broker_dir, template="site-dynsec", dynsec_admin=("dynsec-admin", secrets_["dynsec"]),
        tls=BrokerTls(files / "ca.crt", files / "broker.crt", files / "broker.key", port=tls_port, host="0.0.0.0"),
    )  # fmt: skip
    own_ca = SiteCa.open(tmp / "impostor" / "ca", name="impostor")  # the impostor hands out its own CA
    impostor = Impostor(tmp / "impostor", own_ca.cert_pem)
    copycat = Impostor(tmp / "copycat", ca_file.read_text())
    try:
        broker.start()
        lms.start()
        api = httpx.Client(base_url=f"https://localhost:{http_port}", verify=pinned_context(ca_file),
                           headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
        eventually(lambda: _healthy(api), 30, what="the LMS up and linked to its broker")
        yield Site(lms, api, f"https://localhost:{http_port}", made.stdout.strip(), ca_file,
                   ("127.0.0.1", tls_port), (advertise_host, tls_port), impostor, copycat)  # fmt: skip
        api.close()
    finally:
        impostor.close()
        copycat.close()
        lms.stop()
        broker.stop()
        print(f"--- LMS log\n{lms.output()[-4000:]}")
        shutil.rmtree(broker_dir, ignore_errors=True)


def _healthy(api: httpx.Client) -> bool:
    try:
        return bool(api.get("/api/health").json()["data"]["site_broker"]["connected"])
    except httpx.HTTPError:
        return False


@pytest.fixture
def machine(bin_dir: Path, tmp_path: Path) -> Machine:
    return Machine(bin_dir, tmp_path)


def test_the_agent_package_holds_the_agent_and_installs_its_service(machine: Machine, tmp_path: Path) -> None:
    wheel = next(machine.bin.parent.parent.glob("dist/*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] if not name.startswith("edge/") else "/".join(name.split("/")[:2])
                for name in archive.namelist()}  # fmt: skip
        entry_points = next(archive.read(n).decode() for n in archive.namelist() if n.endswith("entry_points.txt"))
    assert tops == {"shared", "edge/__init__.py", "edge/agent", wheel.name.split("-")[0] + "-0.1.0.dist-info"}
    assert "classtop-agent = edge.agent.cli:main" in entry_points
    assert [r.split("<")[0].split(">")[0].split("=")[0] for r in requires(wheel)] == [
        "pydantic", "paho-mqtt", "psutil", "msgspec", "cryptography"]
    # the installed agent runs from its venv alone: the LMS's dependencies are not there
    assert machine.run("--version").stdout.strip() == "classtop-agent 0.1.0"
    python = machine.bin / "python"
    assert subprocess.run([str(python), "-c", "import fastapi"], env=clean_env(), capture_output=True,
                          check=False).returncode == 1  # fmt: skip

    machine.install("room-1")
    unit = (machine.unit_dir / "classtop-agent.service").read_text()
    run = f"{machine.bin / 'classtop-agent'} run --config {machine.config}"
    assert f"\nExecStart={run}\n" in unit and f"\nExecStartPre={run} --validate-config\n" in unit
    assert "\nUser=classtop-agent\n" in unit and "StateDirectory" not in unit  # a state dir of its own: made here
    assert stat.S_IMODE(machine.state_dir.stat().st_mode) == 0o750
    checked = machine.run("run", "--config", str(machine.config), "--validate-config")
    assert checked.returncode == 0 and "agent_id=room-1" in checked.stdout, checked.stderr
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(machine.unit_dir / "classtop-agent.service")],
                                capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
        assert verify.returncode == 0, verify.stderr
    # a second install keeps the site's agent.toml
    machine.config.write_text("heartbeat_s = 7\n" + machine.config.read_text())
    machine.install("other")
    assert "heartbeat_s = 7" in machine.config.read_text() and 'agent_id = "room-1"' in machine.config.read_text()
    # a bad config is exit 2, which the unit does not restart
    machine.config.write_text('agent_id = "a/b"\n')
    assert machine.run("run", "--config", str(machine.config), "--validate-config").returncode == 2
    assert "RestartPreventExitStatus=2" in unit


def test_a_wrong_ca_hash_is_refused_and_nothing_is_written(site: Site, machine: Machine) -> None:
    machine.install("room-2")
    before = machine.config.read_bytes()
    token = site.token()
    done = machine.enrol(site.url, token, "--ca-hash", site.impostor.fingerprint, "--yes")
    assert done.returncode == 1
    assert site.ca_hash in done.stdout  # the fingerprint is shown
    assert f"not --ca-hash {site.impostor.fingerprint}" in done.stderr and "token was not sent" in done.stderr
    assert machine.config.read_bytes() == before and not machine.token_file.exists()
    assert token not in done.stdout + done.stderr
    # bad input: a malformed hash, plain http to the LAN, --yes without a hash
    assert machine.enrol(site.url, token, "--ca-hash", "md5:00").returncode == 2
    assert machine.enrol("http://192.0.2.10:8000", token, "--ca-hash", site.ca_hash).returncode == 2
    assert machine.enrol(site.url, token, "--yes").returncode == 2
    assert machine.config.read_bytes() == before and not machine.token_file.exists()


@pytest.mark.parametrize("who", ["impostor", "copycat"])
def test_a_lan_host_posing_as_the_lms_at_enrol_time_gets_no_token(site: Site, machine: Machine, who: str) -> None:
    machine.install("room-3")
    before = machine.config.read_bytes()
    fake: Impostor = getattr(site, who)
    fake.requests.clear()
    token = site.token()
    done = machine.enrol(fake.url, token, "--ca-hash", site.ca_hash, "--yes")
    assert done.returncode == 1, done.stdout
    if who == "impostor":  # its own CA: the fingerprint differs
        assert f"has fingerprint {site.impostor.fingerprint}, not --ca-hash {site.ca_hash}" in done.stderr
    else:  # the genuine CA, which is public, but no certificate of it: caught before anything is written
        assert "is not certified by that site CA" in done.stderr
    assert [(method, path) for method, path, _ in fake.requests] == [("GET", "/api/enroll/ca")]
    assert not any(token.encode() in body or token in path for _, path, body in fake.requests)
    assert machine.config.read_bytes() == before and not machine.token_file.exists()


def test_enrolled_the_service_joins_on_the_advertised_broker_address(site: Site, machine: Machine) -> None:
    machine.install("room-4")
    token = site.token()
    done = machine.enrol(site.url, token, "--ca-hash", site.ca_hash, "--yes")
    assert done.returncode == 0, done.stderr
    assert site.ca_hash in done.stdout and token not in done.stdout
    assert machine.token_file.read_text().strip() == token
    assert stat.S_IMODE(machine.token_file.stat().st_mode) == 0o600
    if os.geteuid() == 0:  # given to the service user, who reads it
        assert machine.token_file.stat().st_uid == _uid("nobody")
    text = machine.config.read_text()
    assert f'url = "{site.url}"' in text and f'ca_hash = "{site.ca_hash}"' in text
    assert site.uses()[-1] == 0  # enrol itself sends no token: the service does, when it starts

    # What the unit runs: the installed command, as the service would (no token in its environment).
    agent = InstalledAgent(machine)
    agent.start()
    try:
        eventually(lambda: _status(site, "room-4") == "online", 30, what="room-4 online")
        creds = json.loads((machine.state_dir / "credentials.json").read_text())
        # The address agents are given, and use, is the advertised one, not the LMS's own broker address.
        assert (creds["host"], creds["port"], creds["tls"]) == (*site.advertised, True)
        assert creds["host"] != site.internal[0]
        eventually(lambda: f"connected to {site.advertised[0]}:{site.advertised[1]}" in agent.output(), 10,
                   what="the agent's log names the advertised address")  # fmt: skip
        assert (machine.state_dir / "site-ca.pem").read_text() == site.ca_file.read_text()
    finally:
        assert agent.stop() == 0


def test_without_a_hash_the_technician_confirms_the_fingerprint_at_a_terminal(site: Site, machine: Machine) -> None:
    machine.install("room-5")
    before = machine.config.read_bytes()
    token = site.token()
    # no terminal (a script) and no --ca-hash: refused
    done = machine.enrol(site.url, token)
    assert done.returncode == 1 and "pass --ca-hash" in done.stderr
    # at a terminal: anything but "yes" refuses
    code, out = _at_terminal(machine, site.url, token, "y\n")
    assert code == 1 and site.ca_hash in out and "not confirmed" in out
    assert machine.config.read_bytes() == before and not machine.token_file.exists()
    code, out = _at_terminal(machine, site.url, token, "yes\n")
    assert code == 0, out
    assert f'ca_hash = "{site.ca_hash}"' in machine.config.read_text()


def _status(site: Site, agent_id: str) -> str | None:
    data = site.api.get(f"/api/clients/{agent_id}").json().get("data") or {}
    status: str | None = data.get("status")
    return status


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def _at_terminal(machine: Machine, url: str, token: str, answer: str) -> tuple[int, str]:
    """Run ``enrol`` without ``--ca-hash`` with a pseudo-terminal as its standard input; type ``answer``."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [str(machine.bin / "classtop-agent"), "enrol", url, token, "--config-dir", str(machine.config_dir),
         "--no-restart", "--user", "nobody"],
        stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=clean_env(), cwd=machine.root,
    )  # fmt: skip
    os.close(secondary)
    os.write(primary, answer.encode())
    out, _ = proc.communicate(timeout=60)
    os.close(primary)
    return proc.returncode, out.decode(errors="replace")
