"""Issue 19, "Install": a container-equivalent first start with no internet, then the cloud appearing — the LMS
joins and sends what it kept, with no manual step; agents are given the advertised broker address.

Everything runs for real and as the compose file says (``tests/fixtures/site_compose.py``: its commands, its
environment from ``site.env.example``, its health checks; the LMS from the image's file tree through
``infra/lms/entrypoint.py``), in a network namespace of its own where the containers' fixed ports are free and
their names resolve (``mosquitto``, the site's LAN name, the cloud's two hosts). The cloud is the local twin's:
the IoT Core stand-in broker (mutual TLS with certificates of the twin's stand-in for Amazon's root CA, each site's
access its site policy) and the local cloud process (moto + the Chalice app + the rules engine, signing enrolment
CSRs with that CA); the school's uplink (``tests/fixtures/uplink.py``: a TCP relay) to its API and IoT endpoint is
down at first.

1. The district admin makes the site's one-time enrolment token (the cloud exists; the school cannot reach it).
2. The technician starts the site: ``site-tls``, the broker, the LMS. The entrypoint cannot enrol, says why,
   and runs the LMS site-only (healthy, no ``[cloud]``), retrying with backoff.
3. A classroom PC enrols with the site-only LMS and is given the broker at ``CLASSTOP_LMS_ADVERTISE_HOST``:8883;
   an operator changes its settings through the LMS (kept by the LMS, for the cloud, while it has none).
   (``cloud-added-later``: the first start had no cloud settings at all; the technician adds them now and
   recreates the LMS's container — the uplink still down — and the entrypoint now tries, fails and retries.)
4. The uplink comes back. Without anything done on site: the entrypoint enrols (a key made on the mini-PC, the
   certificate the cloud signs from its CSR), writes ``[cloud]``, restarts its LMS child; the LMS links (mutual
   TLS to the IoT endpoint with that certificate) and the cloud lists the site's agent online, with the settings
   made while site-only, and the site's LMS version.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import NameOID

from infra.lms.entrypoint import CERT_FILE, KEY_FILE
from infra.local import toml_writer
from infra.local.iot_access import stand_in_broker
from infra.local.ports import free_port
from infra.local.process import ChildProcess, wait_for
from shared.names import Namespace
from shared.topics import site_thing_name
from tests.fixtures.lms_image import REPO, NetworkNamespace, as_in_the_image, cable, own_network
from tests.fixtures.site_compose import SiteCompose, example_env
from tests.fixtures.uplink import Uplink

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mosquitto") is None,
                       reason="root, unshare and mosquitto: namespaces stand in for the containers"),
]

LAN_NAME = "lms.school-1.lan"  # site.env.example's CLASSTOP_LMS_ADVERTISE_HOST
CLOUD_HOST, IOT_HOST, CLOUD_IP = "api.district-a.example", "iot.district-a.example", "10.9.0.2"
HOSTS = {"mosquitto": "127.0.0.1", LAN_NAME: "127.0.0.1", CLOUD_HOST: CLOUD_IP, IOT_HOST: CLOUD_IP}


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ct-first-start-"))  # traversable by the broker's user (not tmp_path)
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def http_json(url: str, token: str, body: Any = None, context: ssl.SSLContext | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def items(body: Any) -> list[dict[str, Any]]:
    """The list in an API answer (``data`` holding ``clients``, ``agents`` or ``items``)."""
    data = body.get("data", body) if isinstance(body, dict) else body
    if isinstance(data, dict):
        data = next((v for k, v in data.items() if k in ("clients", "agents", "items")), [])
    return list(data) if isinstance(data, list) else []


@pytest.mark.parametrize("cloud_later", [False, True], ids=["cloud-set-at-first-start", "cloud-added-later"])
def test_a_site_started_without_internet_joins_the_cloud_by_itself(work: Path, cloud_later: bool) -> None:
    """``cloud_later``: the site's first start is site-only (no IoT endpoint in ``site.env``); the technician adds
    the cloud's settings later and recreates the LMS's container (``docker compose up -d``) — still offline."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    cloud_env = {"CLASSTOP_CLOUD_API": f"http://{CLOUD_HOST}:8080", "CLASSTOP_IOT_ENDPOINT": IOT_HOST,
                 "CLASSTOP_IOT_CA_FILE": "/data/iot-ca.pem"}  # fmt: skip
    env = example_env(**({"CLASSTOP_IOT_ENDPOINT": ""} if cloud_later else cloud_env))
    tenant, stage, site_id = env["CLASSTOP_TENANT"], env["CLASSTOP_STAGE"], env["CLASSTOP_SITE_ID"]
    stops: list[Any] = []
    with own_network() as school:
        try:
            # ---- the cloud, another host behind the school's uplink: the IoT Core stand-in (mutual TLS, the twin's
            # stand-in for Amazon's root CA, a server certificate for the IoT endpoint's name) and the local cloud
            cloud_net = NetworkNamespace()
            stops.append(cloud_net.close)
            cable(school, "10.9.0.1", cloud_net, CLOUD_IP)
            with cloud_net.entered():
                iot_dir = work / "iot-core"
                broker, iot_ca = stand_in_broker(work / "iot-core-broker", iot_dir,
                                                 names=(IOT_HOST, "127.0.0.1", "localhost"))  # fmt: skip
                broker.start()
                stops.append(broker.stop)
                api_port, moto_port, ready = free_port(), free_port(), work / "cloud-ready"
                cloud = ChildProcess.python("local cloud", "infra.local.cloud", [
                    "--tenant", tenant, "--stage", stage, "--host", CLOUD_IP, "--api-port", str(api_port),
                    "--moto-port", str(moto_port), "--broker-host", broker.host, "--broker-port", str(broker.port),
                    "--iot-dir", str(iot_dir), "--token-file", str(work / "admin-token"), "--ready-file", str(ready),
                ], work / "logs" / "cloud.log").start()  # fmt: skip
                stops.append(cloud.stop)
                # the school's uplink to the cloud's API and IoT endpoint: down for now (it relays bytes: TLS is
                # between the LMS and the stand-in, which asks for a certificate of its CA)
                uplinks = [Uplink((CLOUD_IP, 8080), (CLOUD_IP, api_port)),
                           Uplink((CLOUD_IP, 8883), (broker.host, broker.port))]
                stops += [u.close for u in uplinks]
            wait_for("the local cloud", ready.exists, 120, watch=[cloud])
            # the district admin (from the district's office: the cloud's own address) makes the site's token
            api, admin = f"http://{CLOUD_IP}:{api_port}", (work / "admin-token").read_text().strip()
            status, made = http_json(f"{api}/api/enrolments", admin, {"name": "School One", "site_id": site_id})
            assert status == 201, made
            cloud_env["CLASSTOP_ENROLMENT_TOKEN"] = made["data"]["token"]
            env.update({} if cloud_later else cloud_env)

            # ---- the site's first start, with no internet
            site = SiteCompose(work, env, HOSTS)
            stops.append(site.down)
            data = site.path("/data")
            shutil.copy(iot_ca.ca_file, data / "iot-ca.pem")  # CLASSTOP_IOT_CA_FILE, mounted by the technician
            site.up()
            site.wait("lms", "service_healthy")
            lms = site.processes["lms"]

            def offline_for_now(lms: ChildProcess) -> None:
                """The entrypoint could not enrol, said why, and runs the LMS site-only while it retries."""
                wait_for("the entrypoint to give up for now", lambda: "starts site-only" in lms.log_path.read_text(),
                         60, watch=[lms])  # fmt: skip
                said = lms.log_path.read_text()
                assert f"cannot reach http://{CLOUD_HOST}:8080" in said and "next enrolment attempt in" in said
                assert "cloud" not in tomllib.loads((data / "lms.toml").read_text())
                assert not (data / "certs" / "site.cert.pem").exists()

            if cloud_later:
                said = lms.log_path.read_text()  # site-only by choice: nothing tried, nothing to retry
                assert "entrypoint: enrolment" not in said and "no [cloud] section" in said
                assert "cloud" not in tomllib.loads((data / "lms.toml").read_text())
            else:
                offline_for_now(lms)
            context = ssl.create_default_context(cafile=str(data / "site-ca" / "ca.crt"))
            lms_token = env["CLASSTOP_LMS_ADMIN_TOKEN"]

            def lms_api(path: str, body: Any = None) -> Any:
                status, answer = http_json(f"https://{'127.0.0.1'}:8000{path}", lms_token, body, context)
                assert status in (200, 201, 202), (path, status, answer)
                return answer

            health = lms_api("/api/health")["data"]
            assert health["cloud"] is None and health["version"] == version  # site-only, the image's version

            # ---- a classroom PC enrols with the site-only LMS
            issued = lms_api("/api/enrollment-tokens", {"ttl_s": 3600, "max_uses": 1, "note": "pc-01"})["data"]
            agent_dir = work / "agents" / "pc-01"
            agent_dir.mkdir(parents=True)
            (agent_dir / "token").write_text(issued["token"] + "\n")
            (agent_dir / "agent.toml").write_text(toml_writer.dumps({
                "agent_id": "pc-01", "heartbeat_s": 2.0, "state_dir": str(agent_dir / "state"),
                "mqtt": {"client_id": "pc-01", "username": "pc-01", "reconnect_min_s": 0.5, "reconnect_max_s": 5.0},
                "enroll": {"url": f"https://{LAN_NAME}:8000", "ca_hash": issued["ca_hash"],
                           "token_file": str(agent_dir / "token"), "retry_max_s": 5.0},
            }))  # fmt: skip
            agent = ChildProcess("agent pc-01", [*as_in_the_image(work, HOSTS), sys.executable, "-m", "edge.agent",
                                                 "--config", str(agent_dir / "agent.toml")],
                                 work / "logs" / "pc-01.log").start()  # fmt: skip
            stops.append(agent.stop)

            def online_at_lms() -> bool:
                return "pc-01" in {c["uuid"] for c in items(lms_api("/api/clients/online"))}

            wait_for("the agent online at the site-only LMS", online_at_lms, 60, watch=[agent, lms])
            credentials = json.loads((agent_dir / "state" / "credentials.json").read_text())
            assert (credentials["host"], credentials["port"]) == (LAN_NAME, 8883)  # the advertised broker address
            done = lms_api("/api/settings/pc-01/batch", {"settings": {"room": "B-12"}})
            assert done["success"] is True, done
            if cloud_later:  # the technician adds the cloud to site.env; `docker compose up -d` recreates the LMS
                lms.stop(30)
                site.site_env.update(cloud_env)
                lms = site.start("lms")
                stops.append(lms.stop)
                site.wait("lms", "service_healthy")
                offline_for_now(lms)
                wait_for("the agent back online at the LMS", online_at_lms, 60, watch=[agent, lms])

            # ---- the internet comes back; nobody touches the site
            with cloud_net.entered():
                for uplink in uplinks:
                    uplink.open()

            def agent_in_cloud() -> dict[str, Any] | None:
                _, listed = http_json(f"{api}/api/agents?site_id={site_id}", admin)
                found = [a for a in items(listed) if a["agent_id"] == "pc-01" and a["status"] == "online"]
                return found[0] if found else None

            wait_for("the cloud to list the site's agent online", agent_in_cloud, 240, every_s=1.0, watch=[lms, agent])

            def settings_in_cloud() -> bool:
                _, got = http_json(f"{api}/api/agents/pc-01/snapshots", admin)
                return "B-12" in json.dumps(got)

            wait_for("the settings made while site-only in the cloud", settings_in_cloud, 60, every_s=1.0)
            # the site as the cloud records it: the advertised host, the LMS's (image's) version
            _, record = http_json(f"{api}/api/lms/{site_id}", admin)
            assert (record["data"]["host"], record["data"]["lms_version"]) == (LAN_NAME, version), record
            _, versions = http_json(f"{api}/api/versions", admin)
            assert versions["data"]["newest"]["lms"] == version, versions
            assert "not one of its agents" not in cloud.log_path.read_text()  # nothing the site kept was refused
            # on site: the same container process (the entrypoint exec'd the LMS), now with the cloud
            assert lms.alive and site.healthy("lms")
            linked = tomllib.loads((data / "lms.toml").read_text())["cloud"]
            assert linked["host"] == IOT_HOST and linked["tls"]["ca_file"] == str(data / "iot-ca.pem")
            assert lms_api("/api/health")["data"]["cloud"]["connected"] is True
            # mutual TLS through the uplink with the certificate it enrolled: its own key (made on the mini-PC), the
            # certificate the cloud signed from its CSR with the IoT CA (the stand-in's CA refuses any other)
            assert uplinks[1].connections
            thing = site_thing_name(Namespace(tenant, stage), site_id)
            certificate = x509.load_pem_x509_certificate((data / "certs" / CERT_FILE).read_bytes())
            certificate.verify_directly_issued_by(iot_ca.cert)
            key = load_pem_private_key((data / "certs" / KEY_FILE).read_bytes(), None)
            assert certificate.public_key() == key.public_key()
            assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == thing
            said = lms.log_path.read_text()
            assert f"enrolled as {thing}" in said and "restarting the LMS with the cloud" in said
            assert f"connecting to {IOT_HOST}:8883 as {thing} (mTLS)" in said
        except BaseException:
            if "site" in locals():
                print(site.logs())
            raise
        finally:
            for stop in reversed(stops):
                stop()
