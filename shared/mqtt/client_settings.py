"""What :class:`~shared.mqtt.client.MqttClient` is made with: the settings it reads (:class:`ClientSettings`) and its
Last Will (:class:`Will`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class _Tls(Protocol):
    @property
    def ca_file(self) -> Path | None: ...
    @property
    def cert_file(self) -> Path | None: ...
    @property
    def key_file(self) -> Path | None: ...


class ClientSettings(Protocol):
    """What the client reads of its settings: ``shared.mqtt.MqttSettings`` (pydantic), or the agent's msgspec
    mirror of it (``edge/agent/config_structs.py``)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def client_id(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> _Secret | None: ...
    @property
    def keepalive_s(self) -> int: ...
    @property
    def tls(self) -> _Tls | None: ...
    @property
    def reconnect_min_s(self) -> float: ...
    @property
    def reconnect_max_s(self) -> float: ...
    @property
    def max_inflight(self) -> int: ...
    @property
    def max_queued(self) -> int: ...
    @property
    def inbox_size(self) -> int: ...
    @property
    def session_expiry_s(self) -> int: ...
