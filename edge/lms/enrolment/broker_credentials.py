"""Per-agent broker credentials, issued at runtime through Mosquitto's dynamic-security plugin.

The LMS drives ``$CONTROL/dynamic-security/v1`` (the JSON commands ``mosquitto_ctrl dynsec`` sends) over its
own MQTT connection as the plugin's admin client: no file edits, no SIGHUP, works across containers
(docs/field-notes.md#mosquitto). What it keeps on the broker:

* the LMS's own client (``site_broker.username`` / its password) with the role ``classtop-lms``: read and
  write every ClassTop topic (the admin client itself may only use ``$CONTROL/#``);
* per agent, a client ``<agent_id>`` bound to the MQTT client id ``<agent_id>``, with a random password and
  the role ``agent-<agent_id>`` holding exactly: ``publishClientSend`` on ``ct/agent/<id>/up/#``,
  ``subscribePattern`` + ``publishClientReceive`` on ``ct/agent/<id>/down/#``. (Dynsec ACLs do not
  substitute ``%c``/``%u``, hence one role per agent.) Everything else is denied by the plugin's defaults
  (``publishClientSend`` and ``subscribe`` false).

Issuing deletes the agent's client and role first and then creates both afresh, so a re-issue rotates the
password and resets the ACL to exactly the above; deleting a client makes the broker disconnect its
sessions at once, which is also how :meth:`BrokerCredentials.revoke` takes effect immediately.

Every command carries a ``correlationData``; the answer on ``$CONTROL/dynamic-security/v1/response`` is
checked, and an error the caller did not expect is raised as :class:`CredentialsError`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import topics
from shared.errors import MqttError, TopicError
from shared.mqtt import IncomingMessage, MqttClient, MqttSettings

log = logging.getLogger(__name__)

LMS_ROLE = "classtop-lms"
AGENT_ROLE_PREFIX = "agent-"
PASSWORD_BYTES = 24  # token_urlsafe(24): 32 characters, 192 bits

_CLIENT_NOT_FOUND = "Client not found"
_ROLE_NOT_FOUND = "Role not found"
_CLIENT_EXISTS = "Client already exists"
_ROLE_EXISTS = "Role already exists"


class CredentialsError(Exception):
    """The broker refused a dynamic-security command, did not answer, or an agent id is unusable."""

    def __init__(self, message: str, *, kind: str = "broker") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "broker" (refused/failed), "unavailable" (no answer), "invalid" (bad agent id)


@dataclass(frozen=True, slots=True)
class DynsecAnswer:
    command: str
    error: str | None
    data: Any


def agent_role(agent_id: str) -> str:
    return f"{AGENT_ROLE_PREFIX}{agent_id}"


def agent_acls(agent_id: str) -> list[dict[str, Any]]:
    """The ACL entries of one agent's role: its own ``up`` to publish, its own ``down`` to receive."""
    up, down = topics.agent_up_acl(agent_id), topics.agent_down_acl(agent_id)
    return [
        {"acltype": "publishClientSend", "topic": up, "allow": True},
        {"acltype": "subscribePattern", "topic": down, "allow": True},
        {"acltype": "publishClientReceive", "topic": down, "allow": True},
    ]


def lms_acls() -> list[dict[str, Any]]:
    everything = topics.site_broker_acl()
    return [
        {"acltype": acltype, "topic": everything, "allow": True}
        for acltype in ("publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern")
    ]


class DynsecControl:
    """Sends dynamic-security commands over one MQTT connection and waits for their answers."""

    def __init__(self, settings: MqttSettings, *, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._pending: dict[str, tuple[threading.Event, list[DynsecAnswer]]] = {}
        self._lock = threading.Lock()
        self._client = MqttClient(settings, name="lms-dynsec")
        self._client.subscribe(topics.dynsec_response(), self._on_response, qos=1, inline=True)

    @property
    def connected(self) -> bool:
        return self._client.connected

    def wait_connected(self, timeout_s: float) -> bool:
        return self._client.wait_connected(timeout_s)

    def trust_ca(self, ca_file: Path) -> None:
        with contextlib.suppress(MqttError):  # a plain loopback admin connection: nothing to trust
            self._client.trust_ca(ca_file)

    def start(self, wait_s: float = 10.0) -> None:
        try:
            self._client.start(wait_s=wait_s)
        except MqttError as exc:
            raise CredentialsError(
                f"cannot reach the site broker's dynamic-security control as "
                f"{self._client.settings.username!r}: {exc.message}",
                kind="unavailable",
            ) from None

    def stop(self) -> None:
        self._client.stop()

    def execute(self, commands: list[dict[str, Any]], *, allowed: Iterable[str | None] = ()) -> list[DynsecAnswer]:
        """Send ``commands`` in one message (the broker runs them in order); return the answers in order.

        Raises :class:`CredentialsError` on the first answer whose error is not in ``allowed``.
        """
        ok = {None, *allowed}
        if not self._client.wait_connected(self.timeout_s):
            raise CredentialsError("the site broker is not connected (dynamic-security control)", kind="unavailable")
        tagged = []
        waits: list[tuple[str, threading.Event, list[DynsecAnswer]]] = []
        with self._lock:
            for command in commands:
                tag = secrets.token_hex(8)
                event, box = threading.Event(), list[DynsecAnswer]()
                self._pending[tag] = (event, box)
                waits.append((tag, event, box))
                tagged.append({**command, "correlationData": tag})
        try:
            self._client.publish(topics.dynsec_control(), json.dumps({"commands": tagged}), qos=1)
            answers = []
            for (_tag, event, box), command in zip(waits, commands, strict=True):
                if not event.wait(self.timeout_s):
                    raise CredentialsError(
                        f"no answer from the dynamic-security plugin to {command['command']} within "
                        f"{self.timeout_s:g} s",
                        kind="unavailable",
                    )
                answers.append(box[0])
        except MqttError as exc:
            raise CredentialsError(
                f"cannot send to the dynamic-security plugin: {exc.message}", kind="unavailable"
            ) from None
        finally:
            with self._lock:
                for tag, _e, _b in waits:
                    self._pending.pop(tag, None)
        for answer in answers:
            if answer.error not in ok:
                raise CredentialsError(f"broker refused {answer.command}: {answer.error}")
        return answers

    def _on_response(self, msg: IncomingMessage) -> None:
        try:
            body = json.loads(msg.payload)
            responses = body["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("dynsec: unreadable response %r", msg.payload[:200])
            return
        for item in responses if isinstance(responses, list) else ():
            if not isinstance(item, dict):
                continue
            with self._lock:
                waiter = self._pending.get(str(item.get("correlationData")))
            if waiter is None:
                continue  # another controller's answer (mosquitto_ctrl), or one we gave up on
            error = item.get("error")
            waiter[1].append(DynsecAnswer(str(item.get("command")), str(error) if error else None, item.get("data")))
            waiter[0].set()


class BrokerCredentials:
    """Issue, rotate, revoke and list agents' broker credentials (see the module docstring)."""

    def __init__(
        self,
        control: DynsecControl,
        *,
        lms_username: str,
        lms_password: str,
        reserved: Iterable[str] = (),
    ) -> None:
        self._control = control
        self._lms_username = lms_username
        self._lms_password = lms_password
        self._reserved = {lms_username, *reserved}
        self._lock = threading.Lock()  # one issue/revoke at a time: their command sequences must not interleave

    @classmethod
    def connect(
        cls, admin: MqttSettings, *, lms_username: str, lms_password: str, timeout_s: float = 5.0
    ) -> BrokerCredentials:
        """Connect as the dynsec admin (``admin``) and make sure the LMS's own client exists."""
        control = DynsecControl(admin, timeout_s=timeout_s)
        control.start(wait_s=max(timeout_s, 1.0))
        service = cls(control, lms_username=lms_username, lms_password=lms_password, reserved=[admin.username or ""])
        try:
            service.ensure_lms()
        except CredentialsError:
            control.stop()
            raise
        return service

    def stop(self) -> None:
        self._control.stop()

    def trust_ca(self, ca_file: Path) -> None:
        """The admin connection also trusts this CA from its next handshake (a site CA rotation)."""
        self._control.trust_ca(ca_file)

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the admin connection is up (it reconnects by itself after a broker restart)."""
        return self._control.wait_connected(timeout_s)

    def ensure_lms(self) -> None:
        """Create (or re-key) the LMS's own client and its ``ct/#`` role. Idempotent."""
        user = self._lms_username
        with self._lock:
            self._control.execute(
                [{"command": "createRole", "rolename": LMS_ROLE, "acls": lms_acls()}], allowed=[_ROLE_EXISTS]
            )
            created = self._control.execute(
                [{"command": "createClient", "username": user, "password": self._lms_password,
                  "roles": [{"rolename": LMS_ROLE}]}],
                allowed=[_CLIENT_EXISTS],
            )[0]
            if created.error == _CLIENT_EXISTS:
                # Keep the broker in step with the configured password and role (both idempotent).
                self._control.execute(
                    [{"command": "modifyClient", "username": user, "password": self._lms_password,
                      "roles": [{"rolename": LMS_ROLE}]}]
                )
        log.info("dynsec: broker client %r with role %s is in place", user, LMS_ROLE)

    def check_agent_id(self, agent_id: str) -> str:
        try:
            topics.check_id(agent_id, "agent id")
        except TopicError as exc:
            raise CredentialsError(exc.message, kind="invalid") from None
        if agent_id in self._reserved:
            raise CredentialsError(f"agent id {agent_id!r} is reserved", kind="invalid")
        return agent_id

    def issue(self, agent_id: str) -> str:
        """(Re)create the agent's client and role with a fresh random password; return the password."""
        self.check_agent_id(agent_id)
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        role = agent_role(agent_id)
        with self._lock:
            self._control.execute(
                [
                    {"command": "deleteClient", "username": agent_id},
                    {"command": "deleteRole", "rolename": role},
                ],
                allowed=[_CLIENT_NOT_FOUND, _ROLE_NOT_FOUND],
            )
            self._control.execute(
                [
                    {"command": "createRole", "rolename": role, "acls": agent_acls(agent_id)},
                    {"command": "createClient", "username": agent_id, "password": password, "clientid": agent_id,
                     "roles": [{"rolename": role}]},
                ]
            )
        log.info("dynsec: issued credentials for agent %s", agent_id)
        return password

    def set_password(self, agent_id: str, password: str) -> None:
        """The agent's client keeps its role but takes ``password`` (a rotation: the broker ends the agent's
        session, which reconnects with the password it was given first). Raises :class:`CredentialsError`."""
        self.check_agent_id(agent_id)
        with self._lock:
            self._control.execute([{"command": "setClientPassword", "username": agent_id, "password": password}])
        log.info("dynsec: new password for agent %s", agent_id)

    def revoke(self, agent_id: str) -> bool:
        """Delete the agent's client (the broker disconnects it at once) and role. False if it had none."""
        self.check_agent_id(agent_id)
        with self._lock:
            answers = self._control.execute(
                [
                    {"command": "deleteClient", "username": agent_id},
                    {"command": "deleteRole", "rolename": agent_role(agent_id)},
                ],
                allowed=[_CLIENT_NOT_FOUND, _ROLE_NOT_FOUND],
            )
        existed = answers[0].error is None
        log.info("dynsec: revoked agent %s%s", agent_id, "" if existed else " (had no credentials)")
        return existed

    def list(self) -> list[str]:
        """The agent ids that hold credentials (clients with their agent role), sorted."""
        answer = self._control.execute([{"command": "listClients", "verbose": True, "count": -1, "offset": 0}])[0]
        clients = (answer.data or {}).get("clients", []) if isinstance(answer.data, dict) else []
        out = []
        for client in clients:
            if not isinstance(client, dict):
                continue
            name = client.get("username")
            roles = {r.get("rolename") for r in client.get("roles", []) if isinstance(r, dict)}
            if isinstance(name, str) and agent_role(name) in roles:
                out.append(name)
        return sorted(out)
