"""The rules of the agent's configuration, pydantic-free: the pydantic models (``edge/agent/config_models.py``)
and their msgspec mirrors (``edge/agent/config_structs.py``, generated) call the same functions, so an agent
checks its file without loading pydantic (edge/agent/footprint.py).

Field rules take the value and return it (maybe normalised); model rules take the model; the one rule before
validation (:func:`mqtt_defaults`) takes the raw table and the environment. Each raises ``ValueError``."""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.agent.credentials import CREDENTIALS_FILE
from edge.agent.exec_env import check_env_allowlist_entry
from shared import fingerprint
from shared.agent_packages import checked_public_key
from shared.config_file import ConfigFileError, resolve_secret
from shared.errors import TopicError
from shared.mqtt.checks import is_loopback
from shared.topics import check_id

PASSWORD_ENV = "CLASSTOP_AGENT_PASSWORD"
#: the enrolment token's variable (edge.agent.enrolment)
TOKEN_ENV = "CLASSTOP_ENROLL_TOKEN"
REGEX_PREFIX = "re:"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,255}$")


class ExecMode(StrEnum):
    DISABLED = "disabled"
    ALLOWLIST = "allowlist"
    ANY = "any"


class AgentPaths:
    """The files under ``state_dir`` (a mixin of both ``AgentConfig`` classes)."""

    __slots__ = ()
    if TYPE_CHECKING:  # not a field of its own (pydantic would take an annotation as one)
        state_dir: Path

    @property
    def settings_path(self) -> Path:
        return self.state_dir / "settings.json"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def outbox_path(self) -> Path:
        return self.state_dir / "outbox.log"

    @property
    def classtop_path(self) -> Path:
        return self.state_dir / "classtop.json"

    @property
    def credentials_path(self) -> Path:
        return self.state_dir / CREDENTIALS_FILE


def allowlist_entries(entries: list[str]) -> list[str]:
    """``[exec] allowlist``: program names, absolute paths, or ``re:<regex>``."""
    for entry in entries:
        if entry.startswith(REGEX_PREFIX):
            try:
                re.compile(entry[len(REGEX_PREFIX) :])
            except re.error as exc:
                raise ValueError(f"allowlist entry {entry!r}: bad regular expression ({exc})") from None
        elif entry.startswith("/"):
            if "\0" in entry or entry.endswith("/"):
                raise ValueError(f"allowlist entry {entry!r}: not a program path")
        elif not _NAME_RE.match(entry):
            raise ValueError(
                f"allowlist entry {entry!r}: use a program name (no '/'), an absolute path, or 're:<regex>'"
            )
    return entries


def env_allowlist_entries(names: list[str]) -> list[str]:
    """``[exec] env_allowlist``: no name known to change what runs or loads (``edge.agent.exec_env``)."""
    for name in names:
        check_env_allowlist_entry(name)
    return names


def rare_process_scans(value: float) -> float:
    """``[processes] interval_s``: 0 (on request only) or at least 10 s."""
    if 0 < value < 10:
        raise ValueError("a process scan costs milliseconds: use 0 (only on request) or at least 10 s")
    return value


def valid_agent_id(value: str) -> str:
    """``agent_id``: a valid topic id."""
    try:
        return check_id(value, "agent_id")
    except TopicError as exc:
        raise ValueError(exc.message) from None


def mqtt_defaults(data: Any, env: Mapping[str, str] | None) -> Any:
    """Before validation: fill ``[mqtt]`` from the agent id and resolve the password (env > password_file >
    password)."""
    if not isinstance(data, dict):
        return data
    mqtt = data.get("mqtt", {})
    if not isinstance(mqtt, dict):
        return data  # the field's validation reports the wrong type
    mqtt = dict(mqtt)
    agent = data.get("agent_id")
    if isinstance(agent, str):
        mqtt.setdefault("client_id", agent)
        mqtt.setdefault("username", agent)
    password_file = mqtt.pop("password_file", None)
    if password_file is not None and not isinstance(password_file, str | Path):
        raise ValueError("mqtt.password_file must be a path")
    try:
        password = resolve_secret(
            os.environ if env is None else env, PASSWORD_ENV, password_file, mqtt.get("password"),
            what="mqtt.password_file",
        )  # fmt: skip
    except ConfigFileError as exc:
        raise ValueError(str(exc)) from None
    if password is not None:
        mqtt["password"] = password
    return {**data, "mqtt": mqtt}


def no_password_in_clear_on_the_lan(config: Any) -> None:
    """``AgentConfig``: plain MQTT only to this machine, unless enrolment brings TLS."""
    if config.enroll is None and config.mqtt.tls is None and not is_loopback(config.mqtt.host):
        raise ValueError(
            f"mqtt: plain MQTT to {config.mqtt.host} would send the broker password across the LAN in clear: "
            "use the broker's TLS port with [mqtt.tls] ca_file = the site CA, or [enroll]"
        )


def absolute_upgrade_root(value: Path) -> Path:
    """``[upgrade] root``: an absolute path."""
    if not value.is_absolute():
        raise ValueError("[upgrade] root must be an absolute path")
    return value


def valid_release_public_key(value: str) -> str:
    """``[upgrade] release_public_key``: an Ed25519 public key (``shared.agent_packages``)."""
    return checked_public_key(value)


def tls_on_the_lan(url: str) -> str:
    """``[enroll] url``: https, or http to this machine only."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "http" and not is_loopback(parsed.hostname or ""):
        raise ValueError(
            f"plain http:// to {parsed.hostname} would send the enrolment token in clear: use https:// "
            "(http:// is for an LMS on this machine only)"
        )
    return url


def normalised_ca_hash(value: str) -> str:
    """``[enroll] ca_hash``: as ``shared.fingerprint`` normalises it."""
    return fingerprint.normalise(value)
