"""This agent's broker credentials from enrolment (:mod:`edge.agent.enrolment`), kept in
``state_dir/credentials.json`` (mode 0600) beside the pinned site CA (``site-ca.pem``)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import SecretStr

from shared import fingerprint
from shared.files import write_atomic
from shared.mqtt import MqttSettings, TlsSettings

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"
CA_FILE = "site-ca.pem"


@dataclass(frozen=True, slots=True)
class Credentials:
    agent_id: str
    host: str
    port: int
    username: str
    password: str
    enrolled_at: float
    tls: bool
    ca_hash: str

    def apply(self, mqtt: MqttSettings, ca_file: Path) -> MqttSettings:
        """``mqtt`` with this broker address and these credentials (the client id is the agent id); with
        ``tls``, verified against the pinned site CA in ``ca_file`` only."""
        return mqtt.model_copy(
            update={
                "host": self.host, "port": self.port, "username": self.username, "password": SecretStr(self.password),
                "client_id": self.agent_id, "tls": TlsSettings(ca_file=ca_file) if self.tls else None,
            }
        )


def load_credentials(path: Path, agent_id: str, ca_hash: str | None = None) -> Credentials | None:
    """The stored credentials, or None if missing, unreadable, another agent's, or made under another site
    CA than ``ca_hash`` (or beside a CA file that is not that one) — each logged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        creds = Credentials(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("enrolment: ignoring unreadable %s (%s)", path, exc)
        return None
    if creds.agent_id != agent_id:
        log.warning("enrolment: %s belongs to agent %r, not %r: enrolling again", path, creds.agent_id, agent_id)
        return None
    if ca_hash is not None:
        stored = _stored_ca_hash(path.with_name(CA_FILE))
        if creds.ca_hash != ca_hash or stored != ca_hash:
            log.warning("enrolment: %s was made under another site CA than %s: enrolling again", path, ca_hash)
            return None
    return creds


def _stored_ca_hash(path: Path) -> str | None:
    try:
        return fingerprint.of_pem(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None


def save_credentials(path: Path, creds: Credentials) -> None:
    """Write atomically with mode 0600: a crash leaves the old file or the new one, never half of one."""
    write_atomic(path, json.dumps(asdict(creds)), mode=0o600)
