"""Helpers for the LMS integration tests: the real LMS as a subprocess, and simulated agents.

The simulated agent is a small test peer speaking the shared protocol over the real site broker (through
``shared.mqtt``, as the real agent does): it publishes a retained ``Status`` with a Last Will, answers
``Command``s from a tiny in-memory settings table, or stays silent on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from shared import topics
from shared.messages import Command, Presence, Response, Status, decode, encode
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings, Will
from shared.names import Namespace
from shared.topics import AgentUp
from tests.fixtures.brokers import Broker, MqttProbe

REPO = Path(__file__).resolve().parents[3]
TENANT = "demo"
NS = Namespace(TENANT, "dev")
SITE = "school-1"
#: The admin token every test LMS starts with (``CLASSTOP_LMS_ADMIN_TOKEN``).
ADMIN_TOKEN = "ctl_test-admin-token-0123456789abcdef"

Responder = Callable[["SimAgent", Command], Response | None]


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Retry ``check`` until it returns something truthy (and return it) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


def settings_responder(agent: SimAgent, cmd: Command) -> Response | None:
    """Answer like an agent would: settings commands, ping, echo for anything else."""
    p = cmd.params
    if cmd.command == "get_all_settings":
        return Response.ok(cmd.request_id, dict(agent.settings))
    if cmd.command == "get_setting":
        return Response.ok(cmd.request_id, agent.settings.get(p["key"]))
    if cmd.command == "set_setting":
        agent.settings[p["key"]] = p["value"]
        return Response.ok(cmd.request_id, {"success": True})
    if cmd.command == "update_settings_batch":
        agent.settings.update(p["settings"])
        return Response.ok(cmd.request_id, {"success": True})
    if cmd.command == "ping":
        return Response.ok(cmd.request_id, {"pong": True, "agent": agent.agent_id})
    return Response.ok(cmd.request_id, {"echo": cmd.command, "params": p})


def silent_responder(_agent: SimAgent, _cmd: Command) -> Response | None:
    return None


class SimAgent:
    """A test peer on the site broker standing in for an agent."""

    def __init__(self, broker: Broker, agent_id: str = "agent-1", responder: Responder = settings_responder) -> None:
        self.agent_id = agent_id
        self.responder = responder
        self.settings: dict[str, str] = {"theme_mode": "dark", "font_size": "14"}
        self.commands: list[Command] = []
        self.received = threading.Event()
        lost = Status(state=Presence.OFFLINE, timestamp=time.time(), reason="lost")
        self.client = MqttClient(
            MqttSettings(
                host=broker.host,
                port=broker.port,
                client_id=agent_id,
                username=agent_id,
                password=broker.passwords[agent_id],
                reconnect_min_s=0.2,
            ),
            will=Will(topics.agent_up(agent_id, AgentUp.STATUS), encode(lost), qos=1, retain=True),
            name=f"sim-{agent_id}",
        )
        self.client.subscribe(topics.agent_down_filter(agent_id), self._on_command)

    def start(self) -> SimAgent:
        self.client.start(wait_s=5.0)
        self.publish_status(Presence.ONLINE, "start")
        return self

    def publish_status(self, state: Presence, reason: str) -> None:
        status = Status(state=state, timestamp=time.time(), reason=reason, hostname=f"pc-{self.agent_id}")
        self.client.publish(topics.agent_up(self.agent_id, AgentUp.STATUS), status, qos=1, retain=True)

    def publish(self, channel: AgentUp, payload: bytes | str) -> None:
        self.client.publish(topics.agent_up(self.agent_id, channel), payload, qos=1)

    def respond(self, response: Response) -> None:
        self.client.publish(topics.agent_up(self.agent_id, AgentUp.RESPONSE), response, qos=1)

    def _on_command(self, msg: IncomingMessage) -> None:
        cmd = decode(Command, msg.payload)
        self.commands.append(cmd)
        self.received.set()
        response = self.responder(self, cmd)
        if response is not None:
            self.respond(response)

    def stop(self) -> None:
        """A clean stop: retained ``offline``/``stop``, then disconnect (no Last Will)."""
        self.publish_status(Presence.OFFLINE, "stop")
        self.client.stop()

    def kill(self) -> None:
        """Vanish without a goodbye: stop the network loop and drop the socket, so the broker sends the Will."""
        paho = self.client._client
        paho.loop_stop()
        sock = paho.socket()
        if sock is not None:
            sock.close()


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def lms_config_text(
    *,
    site_broker: Broker,
    cloud_port: int | None,
    http_port: int,
    db_path: Path,
    settings: dict[str, Any] | None = None,
    cloud_settings: dict[str, Any] | None = None,
) -> str:
    """A complete LMS config file; ``settings`` / ``cloud_settings`` override top-level / ``[cloud]`` keys (a
    ``settings`` value that is a dict becomes its own table, e.g. ``{"classtop": {"client_policy": "open"}}``)."""
    top: dict[str, Any] = {
        "tenant": TENANT,
        "stage": NS.stage,
        "site_id": SITE,
        "db_path": str(db_path),
        "http_host": "127.0.0.1",
        "http_port": http_port,
        # plain HTTP on loopback (allowed there), unless the test gives a certificate
        "http_tls": bool(settings and "tls_cert_file" in settings),
        "command_timeout_s": 5,
        "presence_timeout_s": 10,
        "site_heartbeat_s": 30,
        "log_level": "DEBUG",
        **(settings or {}),
    }
    sections = {k: top.pop(k) for k in [k for k, v in top.items() if isinstance(v, dict)]}
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for name, table in sections.items():
        lines += ["", f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    lines += [
        "",
        "[site_broker]",
        f'host = "{site_broker.host}"',
        f"port = {site_broker.port}",
        'client_id = "lms"',
        'username = "lms"',
    ]
    if cloud_port is not None:
        cloud: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": cloud_port,
            "keepalive_s": 30,  # IoT Core accepts 30-1200 s (CloudLinkSettings enforces it)
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0,
            "ack_timeout_s": 3,
            **(cloud_settings or {}),
        }
        tables = {k: v for k, v in cloud.items() if isinstance(v, dict)}
        lines += ["", "[cloud]", *(f"{k} = {_toml_value(v)}" for k, v in cloud.items() if k not in tables)]
        for name, table in tables.items():
            lines += ["", f"[cloud.{name}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
    return "\n".join(lines) + "\n"


class LmsProcess:
    """``python -m edge.lms --config ...`` as a child process, with its log in a file."""

    def __init__(self, workdir: Path, config_text: str, password: str) -> None:
        self.workdir = workdir
        self.config_path = workdir / "lms.toml"
        self.config_path.write_text(config_text, encoding="utf-8")
        self.log_path = workdir / "lms.log"
        self.admin_token = ADMIN_TOKEN
        self.env = {
            **os.environ,
            "CLASSTOP_LMS_BROKER_PASSWORD": password,
            "CLASSTOP_LMS_ADMIN_TOKEN": self.admin_token,
            "PYTHONUNBUFFERED": "1",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        port = tomllib.loads(config_text)["http_port"]
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(
            base_url=self.base_url, timeout=30.0, headers={"Authorization": f"Bearer {self.admin_token}"}
        )

    def start(self, *, wait_cloud: bool = True, timeout: float = 20.0) -> LmsProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.lms", "--config", str(self.config_path)],
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"LMS exited with {self.proc.returncode}:\n{self.log()}")
            r = self.http.get("/api/health")
            data = r.json()["data"]
            return bool(r.status_code == 200 and data["site_broker"]["connected"]) and (
                not wait_cloud or data["cloud"] is None or data["cloud"]["connected"]
            )

        eventually(ready, timeout, what="LMS ready")
        return self

    def health(self) -> dict[str, Any]:
        data: dict[str, Any] = self.http.get("/api/health").json()["data"]
        return data

    def client_info(self, agent_id: str) -> dict[str, Any] | None:
        r = self.http.get(f"/api/clients/{agent_id}")
        return None if r.status_code == 404 else r.json()["data"]

    def wait_agent(self, agent_id: str, status: str = "online", timeout: float = 10.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            info = self.client_info(agent_id)
            return info if info is not None and info["status"] == status else None

        result: dict[str, Any] = eventually(check, timeout, what=f"{agent_id} {status}")
        return result

    def wait_agents(self, *agent_ids: str, status: str = "online", timeout: float = 10.0) -> None:
        """:meth:`wait_agent` for each of ``agent_ids`` in turn (each with its own ``timeout``)."""
        for agent_id in agent_ids:
            self.wait_agent(agent_id, status, timeout)

    def command(
        self, agent_id: str, command: str, params: dict[str, Any] | None = None, **extra: Any
    ) -> httpx.Response:
        body = {"command": command, "params": params or {}, **extra}
        return self.http.post(f"/api/clients/{agent_id}/command", json=body)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"LMS did not stop within {timeout} s:\n{self.log()}") from None
        code = self.proc.returncode
        self.proc = None
        return code

    def close(self) -> None:
        """Stop the LMS (if it runs) and close the API client, also when stopping fails."""
        try:
            self.stop()
        finally:
            self.http.close()

    @contextlib.contextmanager
    def running(self, *, wait_cloud: bool = True) -> Iterator[LmsProcess]:
        """Started (as :meth:`start`), and closed (:meth:`close`) on the way out, also when starting fails."""
        try:
            yield self.start(wait_cloud=wait_cloud)
        finally:
            self.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def signed_in(lms: LmsProcess, username: str, role: str, *, cameras: bool = False) -> tuple[httpx.Client, str]:
    """A new console account (invited by the harness's admin token), signed in with its one-time password changed:
    a cookie-carrying client (like a browser) and the session's CSRF token."""
    invited = lms.http.post("/api/accounts", json={"username": username, "role": role, "cameras": cameras})
    assert invited.status_code == 201, invited.text
    one_time = invited.json()["data"]["one_time_password"]
    client = httpx.Client(base_url=lms.base_url, timeout=30.0)
    r = client.post("/api/session", json={"username": username, "password": one_time})
    assert r.status_code == 200, r.text
    csrf: str = r.json()["data"]["csrf_token"]
    r = client.post("/api/session/password", headers={"X-CSRF-Token": csrf},
                    json={"current_password": one_time, "new_password": f"{username} new passphrase"})  # fmt: skip
    assert r.status_code == 200, r.text
    return client, csrf


LmsFactory = Callable[..., LmsProcess]
AgentFactory = Callable[..., SimAgent]


def start_with_cloud(
    lms_factory: LmsFactory, cloud_broker: Broker, *topic_filters: str
) -> tuple[MqttProbe, LmsProcess]:
    """A probe on the cloud broker subscribed to ``topic_filters`` before the LMS starts (it sees all the LMS
    sends), and a started LMS linked to that broker."""
    cloud = cloud_broker.client()
    for topic_filter in topic_filters:
        cloud.subscribe(topic_filter)
    return cloud, lms_factory(cloud_broker.port).start()


def json_of(payload: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload)
    return data
