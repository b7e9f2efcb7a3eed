"""This agent's broker credentials from enrolment (:mod:`edge.agent.enrolment`), kept in
``state_dir/credentials.json`` (mode 0600) beside the pinned site CA (``site-ca.pem``)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shared import fingerprint
from shared.config_file import Secret
from shared.files import write_atomic

if TYPE_CHECKING:
    from edge.agent.config_structs import MqttSettings

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"
CA_FILE = "site-ca.pem"
PINS_FILE = "site-ca-pins.json"


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
    #: the password before the last ``rotate_broker_password`` (tried once if the broker refuses the new one)
    previous_password: str | None = None

    def apply(self, mqtt: MqttSettings, ca_file: Path) -> MqttSettings:
        """``mqtt`` with this broker address and these credentials (the client id is the agent id); with
        ``tls``, verified against the pinned site CA in ``ca_file`` only."""
        from msgspec.structs import replace

        from edge.agent.config_structs import TlsSettings  # here: the mirrors' module imports this one

        return replace(
            mqtt, host=self.host, port=self.port, username=self.username, password=Secret(self.password),
            client_id=self.agent_id, tls=TlsSettings(ca_file=ca_file) if self.tls else None,
        )  # fmt: skip


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
        pins = trusted_hashes(path.parent, ca_hash)
        stored = bundle_hashes(path.with_name(CA_FILE))
        if pins != {ca_hash}:  # a CA rotation went through: the CA file holds some of the trusted CAs
            if stored and set(stored) <= pins:
                return creds
            log.warning("enrolment: %s is not one of the site CAs this agent trusts: enrolling again",
                        path.with_name(CA_FILE))  # fmt: skip
            return None
        if creds.ca_hash != ca_hash or stored != [ca_hash]:
            log.warning("enrolment: %s was made under another site CA than %s: enrolling again", path, ca_hash)
            return None
    return creds


_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----")


def bundle_hashes(path: Path) -> list[str]:
    """The fingerprints of the certificates in a PEM file (empty if unreadable)."""
    try:
        text = path.read_text(encoding="ascii")
        return [fingerprint.of_pem(block) for block in _PEM_BLOCK.findall(text)]
    except (OSError, ValueError):
        return []


def trusted_hashes(state_dir: Path, ca_hash: str) -> set[str]:
    """The site CAs this agent trusts: its configured ``ca_hash``, or — once the LMS rotated the site CA over the
    agent's authenticated connection (``trust_site_ca``) — the CAs recorded in ``site-ca-pins.json``, when that
    record continues from the configured hash (it names it, or contains it)."""
    try:
        pins = json.loads((state_dir / PINS_FILE).read_text(encoding="utf-8"))
        configured, trusted = pins["configured"], pins["trusted"]
        if not isinstance(trusted, list) or not all(isinstance(h, str) for h in trusted) or not trusted:
            raise ValueError("trusted is not a list of fingerprints")
    except FileNotFoundError:
        return {ca_hash}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("enrolment: ignoring unreadable %s (%s)", state_dir / PINS_FILE, exc)
        return {ca_hash}
    if configured == ca_hash or ca_hash in trusted:
        return set(trusted)
    return {ca_hash}  # the configuration names another CA since: it wins


def save_pins(state_dir: Path, configured: str, trusted: list[str]) -> None:
    write_atomic(state_dir / PINS_FILE, json.dumps({"configured": configured, "trusted": trusted}), mode=0o600)


def save_credentials(path: Path, creds: Credentials) -> None:
    """Write atomically with mode 0600: a crash leaves the old file or the new one, never half of one."""
    write_atomic(path, json.dumps(asdict(creds)), mode=0o600)
