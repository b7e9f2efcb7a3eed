"""The local twin's supervisor: the whole system on one machine, no AWS account.

Start order (stop runs it in reverse):

1. the IoT Core stand-in broker (Mosquitto, loopback, mutual TLS only: ``infra/mosquitto/iot-core.conf.tmpl``),
   with the twin's stand-in for Amazon's root CA and the privileged certificates of the twin's IoT Core parts
   (``infra/local/iot_ca.py``, ``infra/local/iot_access.py``);
2. the site's TLS: the LMS's own first-start step (``edge.lms.tls.site_tls``) makes the site CA and the LMS's
   and broker's certificates, as ``python -m edge.lms ... tls`` does before a site broker's first start;
3. the site broker (Mosquitto with the dynamic-security plugin: the LMS issues each agent's credentials),
   MQTT over TLS on ``ports.site_broker`` with the site CA's certificate, plain MQTT on a loopback port only;
4. the local cloud process (moto + the Chalice app + rules engine; ``infra.local.cloud``);
5. the site's enrolment with the cloud, as the LMS container does it (``infra.lms.entrypoint.enrol``: a key pair
   made here, its CSR signed by the stand-in CA, the site policy's access put on the stand-in broker), then the LMS
   (``python -m edge.lms``), HTTPS with the site CA's certificate, connected to the broker over TLS, linked to the
   stand-in broker as its IoT Core over mutual TLS with the site's certificate (the production ``awscrt`` path);
6. the agents (``python -m edge.agent``), which pin the site CA (``ca_hash``), enrol with the LMS over HTTPS
   (one enrolment token for all of them) and connect to the broker's TLS port with their own credentials.

It waits for each part to be ready before the next one, and finally for the cloud to list every agent. Then its
supervisor (``infra/local/supervisor.py``) watches the brokers, the LMS and the agents: one that exits without being
asked to is started again with backoff (docs/operations.md#supervision).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
import ssl
import urllib.request
from pathlib import Path
from typing import Any

from edge.lms.config import load_config
from edge.lms.enrolment.broker_credentials import DynsecControl
from edge.lms.tls import SiteTls, TlsFiles
from infra.lms.entrypoint import CERT_FILE, KEY_FILE, EntrypointError, enrol
from infra.local import toml_writer
from infra.local.basic_ingest import RULES_ENGINE_ROLE
from infra.local.iot_access import IOT_CORE_ROLE, SUPERVISOR_CLIENT, iot_core_settings, stand_in_broker
from infra.local.iot_ca import IotCa
from infra.local.link_proxy import LinkProxy
from infra.local.mosquitto import BrokerTls, MosquittoProcess
from infra.local.ports import free_port
from infra.local.process import REPO, ChildProcess, wait_for
from infra.local.supervisor import Supervisor, broker_watch, child_watch
from infra.local.twin_options import TwinOptions
from shared.files import write_atomic
from shared.lifecycle import Lifecycle
from shared.mqtt import MqttSettings
from shared.names import Namespace
from shared.topics import site_thing_name

log = logging.getLogger(__name__)

LMS_USER = "lms"
CLOCK_SHIFT_DIR = REPO / "infra" / "local" / "clock_shift"
IOT_ROOT_CA_FILE = "iot-root-ca.pem"  # the stand-in for AmazonRootCA1.pem, in the LMS's certs/
DYNSEC_ADMIN = "dynsec-admin"


def _http_json(
    url: str, token: str | None = None, timeout: float = 2.0, body: Any = None, context: ssl.SSLContext | None = None
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
        return json.loads(resp.read())


class Twin:
    def __init__(self, workdir: Path, options: TwinOptions | None = None) -> None:
        self.workdir = Path(workdir).absolute()
        self.opt = options or TwinOptions()
        self.lifecycle = Lifecycle()
        self.passwords: dict[str, str] = {}
        self.agents: dict[str, ChildProcess] = {}
        self.admin_token: str = ""
        #: the dashboard's demo admin: e-mail and password (the local cloud's user pool)
        self.demo_user: tuple[str, str] = ("", "")
        self.lms_token: str = "ctl_" + secrets.token_urlsafe(24)  # the LMS's local admin token
        self.cloud_broker: MosquittoProcess | None = None
        self.site_broker: MosquittoProcess | None = None
        self.cloud: ChildProcess | None = None
        self.lms: ChildProcess | None = None
        self.moto_url = ""
        self._enrolment_token = ""
        self.tls: TlsFiles | None = None
        self.iot_ca: IotCa | None = None
        self._control: DynsecControl | None = None  # the supervisor's dynamic-security admin on the stand-in
        self.supervisor = Supervisor()
        self.link_proxy: LinkProxy | None = None
        self.ca_hash = ""  # the site CA's fingerprint, as the LMS shows it where enrolment tokens are made

    # ------------------------------------------------------------ addresses

    @property
    def api_url(self) -> str:
        return f"http://{self.opt.host}:{self.opt.ports.api}"

    @property
    def lms_url(self) -> str:
        return f"https://{self.opt.host}:{self.opt.ports.lms}"

    @property
    def lms_dir(self) -> Path:
        return self.workdir / "lms"

    @property
    def lms_ca_file(self) -> Path:
        """The site CA's certificate (``curl --cacert``): it alone certifies the LMS and the site broker."""
        return self.lms_dir / "site-ca" / "ca.crt"

    def lms_ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.lms_ca_file))

    def lms_api(self, path: str, token: str | None = None, body: Any = None, timeout: float = 2.0) -> Any:
        """A JSON call to the LMS's API over HTTPS, trusting the site CA only."""
        return _http_json(f"{self.lms_url}{path}", token, timeout, body, self.lms_ssl_context())

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Twin:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # the mosquitto user must traverse it
        try:
            for step in (
                self.start_cloud_broker,
                self.start_site_tls,
                self.start_site_broker,
                self.start_local_cloud,
                self.start_lms,
                self.start_agents,
                self.wait_cloud_sees_agents,
                self.start_supervisor,
            ):
                log.info("twin: %s", step.__name__.replace("_", " "))
                step()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.lifecycle.stop()

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ steps

    @property
    def iot_dir(self) -> Path:
        """The stand-in CA (``ca.crt``: the LMS's "AmazonRootCA1.pem") and the privileged identities' files."""
        return self.workdir / "iot-core"

    def start_cloud_broker(self) -> None:
        # Each twin run starts with a fresh registry (moto): no sites, no sessions from an earlier run.
        broker, ca = stand_in_broker(self.workdir / "iot-core-broker", self.iot_dir,
                                     port=self.opt.ports.cloud_broker or None)  # fmt: skip
        self.iot_ca = ca
        broker.start()
        self.cloud_broker = broker
        self.lifecycle.on_stop("cloud broker", broker.stop)
        self.lifecycle.on_stop("stand-in control", self._stop_control)
        if self.opt.cloud_link_proxy:
            self.link_proxy = LinkProxy(broker.host, broker.port).start()
            self.lifecycle.on_stop("cloud link relay", self.link_proxy.stop)

    def iot_core_client(self, name: str, *, session_expiry_s: int = 0, rules_engine: bool = False) -> MqttSettings:
        """Settings of a privileged client of the stand-in broker (an observer standing in for IoT Core's own
        parts): a certificate ``CN=<name>`` and the ``iot-core`` role (every topic but Basic Ingest's); with
        ``rules_engine``, the rules engine's role (Basic Ingest's ``$aws/rules/...`` too: what a rule sees). Made on
        first use."""
        assert self.cloud_broker is not None and self.iot_ca is not None
        if not (self.iot_dir / f"{name}.crt").exists():
            self.iot_ca.issue_client(self.iot_dir, name)
        if self._control is None:
            control = DynsecControl(iot_core_settings(self.iot_dir, SUPERVISOR_CLIENT, self.cloud_broker.host,
                                                      self.cloud_broker.port))
            control.start()
            self._control = control
        self._control.execute([{"command": "createClient", "username": name, "clientid": name,
                                "roles": [{"rolename": RULES_ENGINE_ROLE if rules_engine else IOT_CORE_ROLE}]}],
                               allowed=["Client already exists"])
        return iot_core_settings(self.iot_dir, name, self.cloud_broker.host, self.cloud_broker.port,
                                 session_expiry_s=session_expiry_s)

    def _stop_control(self) -> None:
        if self._control is not None:
            self._control.stop()
            self._control = None

    def start_site_tls(self) -> None:
        """The LMS's configuration and secrets, then its first-start TLS step: the site CA and certificates."""
        self.passwords = {LMS_USER: secrets.token_urlsafe(18), DYNSEC_ADMIN: secrets.token_urlsafe(18)}
        self.lms_dir.mkdir(exist_ok=True)
        write_atomic(self.lms_dir / "broker-password", self.passwords[LMS_USER] + "\n")
        write_atomic(self.lms_dir / "dynsec-password", self.passwords[DYNSEC_ADMIN] + "\n")
        config = self.lms_dir / "lms.toml"
        config.write_text(toml_writer.dumps(self.lms_config()))
        self.tls = SiteTls(load_config(config)).ensure()

    def start_site_broker(self) -> None:
        assert self.tls is not None
        files = self.tls.broker
        broker = MosquittoProcess(
            self.workdir / "site-broker", port=self.opt.ports.site_broker_plain or None, template="site-dynsec",
            dynsec_admin=(DYNSEC_ADMIN, self.passwords[DYNSEC_ADMIN]),
            tls=BrokerTls(self.tls.broker_ca_file, files.cert_file, files.key_file, port=self.opt.ports.site_broker,
                          host=self.opt.host),
        )  # fmt: skip
        # Each twin run starts with fresh broker credentials (the LMS and the agents get new ones below).
        broker.dynsec_file.unlink(missing_ok=True)
        broker.start()
        self.site_broker = broker
        self.lifecycle.on_stop("site broker", broker.stop)

    def start_local_cloud(self) -> None:
        assert self.cloud_broker is not None
        run = self.workdir / "cloud"
        run.mkdir(exist_ok=True)
        token_file, ready_file, user_file = run / "admin-token", run / "ready", run / "demo-user"
        for f in (token_file, ready_file, user_file):
            f.unlink(missing_ok=True)
        moto_port = self.opt.ports.moto or free_port()
        self.moto_url = f"http://{self.opt.host}:{moto_port}"
        self.cloud = ChildProcess.python(
            "local cloud",
            "infra.local.cloud",
            [
                "--tenant", self.opt.tenant, "--stage", self.opt.stage, "--host", self.opt.host,
                "--api-port", str(self.opt.ports.api), "--moto-port", str(moto_port),
                "--broker-host", self.cloud_broker.host, "--broker-port", str(self.cloud_broker.port),
                "--token-file", str(token_file), "--ready-file", str(ready_file), "--iot-dir", str(self.iot_dir),
                "--demo-user-file", str(user_file),
                *(["--schedule-every-s", str(self.opt.schedule_every_s)] if self.opt.schedule_every_s else []),
            ],
            self.workdir / "logs" / "cloud.log",
        ).start()
        self.lifecycle.on_stop("local cloud", self.cloud.stop)
        wait_for("the local cloud", ready_file.exists, self.opt.start_timeout_s, watch=[self.cloud])
        self.admin_token = token_file.read_text().strip()
        email, password = [*user_file.read_text().splitlines(), "", ""][:2]
        self.demo_user = (email, password)
        self.enrol_site()

    def enrol_site(self) -> None:
        """Enrol the twin's site as the LMS container does (``infra.lms.entrypoint.enrol``): an enrolment token
        from the cloud API, a key pair made here and its CSR, the certificate the cloud returns (signed by the
        stand-in CA, CN = the thing name), kept in ``lms/certs`` with the private key. The thing, its
        ``site_id`` attribute, the site policy and the broker access are the cloud's doing."""
        certs = self.lms_dir / "certs"
        for name in (CERT_FILE, KEY_FILE):
            (certs / name).unlink(missing_ok=True)  # a new registry (moto) on every run: enrol again
        answer = _http_json(f"{self.api_url}/api/enrolments", self.admin_token,
                            body={"name": "local twin", "site_id": self.opt.site_id, "ttl_s": 600})
        env = {
            "CLASSTOP_IOT_ENDPOINT": self.cloud_broker.host if self.cloud_broker else self.opt.host,
            "CLASSTOP_TENANT": self.opt.tenant, "CLASSTOP_STAGE": self.opt.stage,
            "CLASSTOP_SITE_ID": self.opt.site_id, "CLASSTOP_CLOUD_API": self.api_url,
            "CLASSTOP_ENROLMENT_TOKEN": str(answer["data"]["token"]),
        }  # fmt: skip
        try:
            enrol(env, self.lms_dir)
        except EntrypointError as exc:
            raise RuntimeError(f"the twin's site enrolment failed: {exc.message}") from None
        # the root CA beside the site's certificate, as an operator keeps AmazonRootCA1.pem (in the LMS's data:
        # its backup and restore carry it)
        assert self.iot_ca is not None
        write_atomic(certs / IOT_ROOT_CA_FILE, self.iot_ca.ca_file.read_bytes(), mode=0o644)
        config = self.lms_dir / "lms.toml"
        config.write_text(toml_writer.dumps(self.lms_config()))

    def lms_config(self) -> dict[str, Any]:
        assert self.cloud_broker is not None
        certs = self.lms_dir / "certs"
        return {
            "tenant": self.opt.tenant,
            "stage": self.opt.stage,
            "site_id": self.opt.site_id,
            "db_path": str(self.lms_dir / "lms.db"),
            "http_host": self.opt.host,  # HTTPS (the default) with the site CA's certificate
            "http_port": self.opt.ports.lms,
            "site_heartbeat_s": self.opt.site_heartbeat_s,
            "presence_timeout_s": self.opt.presence_timeout_s,
            "site_broker": {
                "host": self.opt.host,
                "port": self.opt.ports.site_broker,  # the TLS listener, verified against the site CA
                "tls": {},
                "username": LMS_USER,
                "client_id": "lms",
                "password_file": str(self.lms_dir / "broker-password"),
                "dynsec": {"username": DYNSEC_ADMIN, "password_file": str(self.lms_dir / "dynsec-password")},
            },
            "cloud": {
                "host": self.link_proxy.host if self.link_proxy else self.cloud_broker.host,
                "port": self.link_proxy.port if self.link_proxy else self.cloud_broker.port,
                # mutual TLS as with IoT Core: the site's certificate from enrolment (written again once it is
                # there: enrol_site), the stand-in root CA
                **({"tls": {"ca_file": str(certs / IOT_ROOT_CA_FILE), "cert_file": str(certs / CERT_FILE),
                            "key_file": str(certs / KEY_FILE)}} if (certs / CERT_FILE).is_file() else {}),
                "client_id": site_thing_name(Namespace(self.opt.tenant, self.opt.stage), self.opt.site_id),
                "reconnect_min_s": 0.5,
                "reconnect_max_s": 5.0,
            },
        }

    def start_lms(self) -> None:
        self.lms = ChildProcess.python(
            "LMS", "edge.lms", ["--config", str(self.lms_dir / "lms.toml")], self.workdir / "logs" / "lms.log",
            env={"CLASSTOP_LMS_ADMIN_TOKEN": self.lms_token, **self._clock_env("lms")},
        ).start()
        self.lifecycle.on_stop("LMS", self.lms.stop)
        wait_for(
            "the LMS API", lambda: self.lms_api("/api/health").get("success"), self.opt.start_timeout_s,
            watch=[self.lms],
        )  # fmt: skip

    def clock_file(self, part: str) -> Path:
        """The wall-clock offset of ``part`` (``lms`` or an agent id) with ``TwinOptions.clock_shift``."""
        return self.workdir / "clock" / part

    def shift_clock(self, part: str, offset_s: float) -> None:
        """Step ``part``'s wall clock to the real one plus ``offset_s`` (0: right again); it sees it within 50 ms."""
        if not self.opt.clock_shift:
            raise RuntimeError("the twin was started without clock_shift")
        write_atomic(self.clock_file(part), f"{offset_s!r}\n", mode=0o644)

    def _clock_env(self, part: str) -> dict[str, str]:
        if not self.opt.clock_shift:
            return {}
        if not self.clock_file(part).exists():
            self.clock_file(part).parent.mkdir(parents=True, exist_ok=True)
            self.shift_clock(part, 0.0)
        return {"PYTHONPATH": f"{CLOCK_SHIFT_DIR}:{REPO}", "CLASSTOP_TWIN_CLOCK_FILE": str(self.clock_file(part))}

    def agent_config(self, agent_id: str) -> dict[str, Any]:
        adir = self.workdir / "agents" / agent_id
        camera = {"camera": {"enabled": True, "stream_port": 0, "disk_warn_free_mb": 0, "disk_reserve_mb": 0}}
        return {
            "agent_id": agent_id,
            "heartbeat_s": self.opt.agent_heartbeat_s,
            "state_dir": str(adir / "state"),
            # the broker's address and TLS come from enrolment
            "mqtt": {"client_id": agent_id, "username": agent_id, "reconnect_min_s": 0.5, "reconnect_max_s": 5.0},
            "exec": {"mode": self.opt.exec_mode},
            "enroll": {
                "url": self.lms_url, "ca_hash": self.ca_hash, "token_file": str(adir / "enroll-token"),
                "retry_max_s": 5.0,
            },
            **(camera if agent_id in self.opt.camera_agents else {}),
        }  # fmt: skip

    def start_agent(self, agent_id: str) -> ChildProcess:
        adir = self.workdir / "agents" / agent_id
        adir.mkdir(parents=True, exist_ok=True)
        write_atomic(adir / "enroll-token", self.enrolment_token() + "\n")  # sets ca_hash too
        (adir / "state" / "credentials.json").unlink(missing_ok=True)  # from an earlier run's broker
        config = adir / "agent.toml"
        config.write_text(toml_writer.dumps(self.agent_config(agent_id)))
        child = ChildProcess.python(
            f"agent {agent_id}", "edge.agent", ["--config", str(config)], self.workdir / "logs" / f"{agent_id}.log",
            env=self._clock_env(agent_id),
        ).start()
        self.agents[agent_id] = child
        return child

    def enrolment_token(self) -> str:
        """One enrolment token (made on first use) for all the twin's agents, and the CA fingerprint to pin."""
        if not self._enrolment_token:
            body = {"ttl_s": 3600, "max_uses": max(len(self.opt.agent_ids), 1) * 10, "note": "local twin"}
            answer = self.lms_api("/api/enrollment-tokens", self.lms_token, body=body)
            self._enrolment_token = str(answer["data"]["token"])
            self.ca_hash = str(answer["data"]["ca_hash"])
        return self._enrolment_token

    def start_agents(self) -> None:
        for agent_id in self.opt.agent_ids:
            self.start_agent(agent_id)
        self.lifecycle.on_stop("agents", self.stop_agents)
        want = set(self.opt.agent_ids)

        def all_online() -> bool:
            online = self.lms_api("/api/clients/online", self.lms_token)
            return want <= {c["uuid"] for c in _items(online)}

        wait_for("the agents online at the LMS", all_online, self.opt.start_timeout_s,
                 watch=list(self.agents.values()))

    def stop_agents(self) -> None:
        for agent in self.agents.values():
            agent.stop()

    def wait_cloud_sees_agents(self) -> None:
        want = set(self.opt.agent_ids)

        def listed() -> bool:
            body = _http_json(f"{self.api_url}/api/agents?site_id={self.opt.site_id}", self.admin_token)
            online = {a["agent_id"] for a in _items(body) if a.get("status") == "online"}
            return want <= online

        wait_for("the cloud to list the agents", listed, self.opt.start_timeout_s,
                 watch=[p for p in (self.cloud, self.lms) if p])

    def start_supervisor(self) -> None:
        """Watch the brokers, the LMS and the agents (not the local cloud: its moto state lives in its memory)."""
        if not self.opt.supervise:
            return
        for name, broker in (("IoT Core stand-in", self.cloud_broker), ("site broker", self.site_broker)):
            if broker is not None:
                self.supervisor.watch(name, *broker_watch(broker))
        self.supervisor.watch("LMS", *child_watch(lambda: self.lms))
        for agent_id in self.agents:  # looked up at each check: a restarted agent may be a new process object
            self.supervisor.watch(f"agent {agent_id}", *child_watch(functools.partial(self.agents.get, agent_id)))
        self.supervisor.start()
        self.lifecycle.on_stop("supervisor", self.supervisor.stop)


def _items(body: Any) -> list[dict[str, Any]]:
    """The list inside an API answer, whatever envelope it comes in."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("items", "agents", "clients", "data"):
            value = body.get(key)
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return _items(value)
    return []
