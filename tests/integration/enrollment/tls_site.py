"""A whole TLS site for the rotation tests: a real LMS (``python -m edge.lms``), the site broker (Mosquitto with
the dynamic-security plugin and the product's template, TLS with the site CA's certificate), and real agents
enrolled with the pinned site CA — plus a watcher that records every agent that is not online at any moment."""

from __future__ import annotations

import secrets
import socket
import sqlite3
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cryptography import x509

from infra.local.mosquitto import BrokerTls, MosquittoProcess
from infra.local.ports import free_port
from tests.integration.enrollment.agent_proc import AgentProc
from tests.integration.enrollment.site_lan import pinned_context
from tests.integration.enrollment.test_site_tls import Lms
from tests.integration.lms.lms_harness import eventually


class TlsSite:
    """See the module docstring. Built by :func:`tls_site`."""

    def __init__(self, workdir: Path, broker_dir: Path) -> None:
        self.workdir = workdir
        self.http_port, self.tls_port = free_port(), free_port()
        self.admin = "ctl_" + secrets.token_urlsafe(24)
        self.passwords = {"lms": secrets.token_urlsafe(16), "dynsec": secrets.token_urlsafe(16)}
        self.lms = Lms(
            workdir / "lms",
            f'tenant = "demo"\nsite_id = "school-1"\ndb_path = "lms.db"\nhttp_port = {self.http_port}\n'
            f'[site_broker]\nhost = "127.0.0.1"\nport = {self.tls_port}\nusername = "lms"\n[site_broker.tls]\n'
            '[site_broker.dynsec]\nusername = "dynsec-admin"\n',
            {"CLASSTOP_LMS_BROKER_PASSWORD": self.passwords["lms"],
             "CLASSTOP_LMS_DYNSEC_PASSWORD": self.passwords["dynsec"], "CLASSTOP_LMS_ADMIN_TOKEN": self.admin},
        )  # fmt: skip
        made = self.lms.run("tls")
        assert made.returncode == 0, made.stderr
        self.ca_hash = made.stdout.strip()
        self.ca_file = self.lms.workdir / "site-ca" / "ca.crt"
        files = self.lms.workdir / "site-ca" / "broker"
        self.broker = MosquittoProcess(
            broker_dir, template="site-dynsec", dynsec_admin=("dynsec-admin", self.passwords["dynsec"]),
            tls=BrokerTls(files / "ca.crt", files / "broker.crt", files / "broker.key", port=self.tls_port),
        )  # fmt: skip
        self.agents: list[AgentProc] = []

    @property
    def url(self) -> str:
        return f"https://localhost:{self.http_port}"

    def trusted(self) -> ssl.SSLContext:
        """What an agent trusts during a CA rotation: the site CA, and the next or previous one if any."""
        context = pinned_context(self.ca_file)
        for other in ("next", "previous"):
            path = self.ca_file.parent / other / "ca.crt"
            if path.is_file():
                context.load_verify_locations(cafile=str(path))
        return context

    def client(self) -> httpx.Client:
        """An admin API client that trusts the site CA(s) only (a new connection per request: each handshake
        shows the certificate served at that moment)."""
        return httpx.Client(base_url=self.url, verify=self.trusted(), timeout=10,
                            headers={"Authorization": f"Bearer {self.admin}", "Connection": "close"})  # fmt: skip

    def request(self, method: str, path: str, body: dict | None = None) -> httpx.Response:  # type: ignore[type-arg]
        with self.client() as api:
            return api.request(method, path, json=body)

    def start(self, agent_ids: list[str]) -> TlsSite:
        self.broker.start()
        self.lms.start()
        eventually(lambda: self.api_get("/api/health")["site_broker"]["connected"], 30, what="LMS up")
        token = self.api_post("/api/enrollment-tokens", {"max_uses": len(agent_ids) + 5})["token"]
        for agent_id in agent_ids:
            self.agents.append(AgentProc(self.workdir / agent_id, agent_id, self.url, self.ca_hash).start(token))
        for agent_id in agent_ids:
            self.wait_online(agent_id, 60)
        return self

    def wait_online(self, agent_id: str, timeout: float) -> None:
        eventually(lambda: self.status(agent_id) == "online", timeout, what=f"{agent_id} online")

    def api_get(self, path: str) -> dict:  # type: ignore[type-arg]
        reply = self.request("GET", path)
        assert reply.status_code == 200, reply.text
        data: dict = reply.json()["data"]  # type: ignore[type-arg]
        return data

    def api_post(self, path: str, body: dict | None = None) -> dict:  # type: ignore[type-arg]
        reply = self.request("POST", path, body or {})
        assert reply.status_code in (200, 201), reply.text
        data: dict = reply.json()["data"]  # type: ignore[type-arg]
        return data

    def status(self, agent_id: str) -> str | None:
        reply = self.request("GET", f"/api/clients/{agent_id}")
        return reply.json().get("data", {}).get("status") if reply.status_code == 200 else None

    def disconnects(self, since: float) -> list[tuple[str, str]]:
        """Disconnections the LMS recorded (its connection log) since ``since``: (agent id, reason)."""
        with sqlite3.connect(f"file:{self.lms.workdir / 'lms.db'}?mode=ro", uri=True) as db:
            rows = db.execute(
                "SELECT client_uuid, COALESCE(reason, '') FROM connection_logs WHERE event_type != 'connect' "
                "AND COALESCE(disconnected_at, connected_at, 0) >= ?", (since,)
            ).fetchall()  # fmt: skip
        return [(str(a), str(r)) for a, r in rows]

    def stop(self) -> None:
        for agent in self.agents:
            agent.stop()
        self.lms.stop()
        self.broker.stop()


def served_serial(host: str, port: int, ca_file: Path) -> int:
    """The serial number of the certificate served on ``host:port`` now, verified against ``ca_file`` only."""
    context = pinned_context(ca_file)
    with socket.create_connection((host, port), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=host
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


class PresenceWatch:
    """Polls every agent's presence on the LMS (a fresh TLS connection each time) until stopped; records any
    moment an agent was not online, and any request that failed (an LMS that could not be reached)."""

    def __init__(self, site: TlsSite) -> None:
        self.site = site
        self.samples = 0
        self.missing: list[tuple[str, str | None]] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presence-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                api = self.site.client()  # anew each round: the CAs trusted change during a CA rotation
            except OSError:  # the CA files are being moved (a CA switch): look again
                continue
            with api:
                for agent in self.site.agents:
                    try:
                        reply = api.get(f"/api/clients/{agent.agent_id}")
                        status = reply.json().get("data", {}).get("status")
                    except (httpx.HTTPError, ssl.SSLError, ValueError) as exc:
                        self.failures.append(f"{agent.agent_id}: {exc!r}")
                        continue
                    if status != "online":
                        self.missing.append((agent.agent_id, status))
                self.samples += 1
                self._stop.wait(0.05)

    def __enter__(self) -> PresenceWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@contextmanager
def tls_site(workdir: Path, broker_dir: Path, agent_ids: list[str]) -> Iterator[TlsSite]:
    site = TlsSite(workdir, broker_dir)
    try:
        yield site.start(agent_ids)
    finally:
        site.stop()
        print(f"--- LMS log\n{site.lms.output()[-4000:]}")
        for agent in site.agents:
            print(f"--- agent {agent.agent_id}\n{agent.output()[-2000:]}")


def broker_accepts(site: TlsSite, username: str, password: str, client_id: str) -> bool:
    """Whether the site broker's TLS port accepts these credentials (a paho client that trusts the site CA)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    result: list[bool] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.tls_set(ca_certs=str(site.ca_file))

    def on_connect(_c: object, _u: object, _f: object, reason: object, _p: object) -> None:
        result.append(not getattr(reason, "is_failure", True))
        done.set()

    client.on_connect = on_connect
    client.connect("localhost", site.tls_port)
    client.loop_start()
    try:
        done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return bool(result and result[0])
