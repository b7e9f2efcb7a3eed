"""Typed connection settings of the MQTT wrapper (part of LMS and agent config files)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shared.mqtt import checks
from shared.mqtt.checks import is_loopback as is_loopback  # named here as before


class TlsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca_file: Path | None = Field(
        default=None, description="CA that signed the broker's certificate (the site CA); absent = the system's"
    )
    cert_file: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(default=None, description="client private key (mutual TLS)")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        checks.tls_pair(self)
        return self


class MqttSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", min_length=1, max_length=255, description="broker host")
    port: int = Field(default=1883, ge=1, le=65535, description="broker port")
    client_id: str = Field(min_length=1, max_length=128, description="MQTT client id (unique per broker)")
    username: str | None = Field(default=None, max_length=128)
    password: SecretStr | None = Field(default=None, description="better given by environment or file")
    keepalive_s: int = Field(default=30, ge=5, le=1200, description="MQTT keep-alive")
    tls: TlsSettings | None = None
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60, description="first reconnect delay bound")
    reconnect_max_s: float = Field(
        default=15.0, gt=0, le=600,
        description="reconnect delay cap; after a long outage the wait is between half of it and all of it, so "
        "15 s brings a whole site back within 30 s of its broker's return (docs/operations.md#reconnect-storms)",
    )  # fmt: skip
    max_inflight: int = Field(default=100, ge=1, le=65535, description="QoS>0 messages in flight")
    max_queued: int = Field(default=10000, ge=1, le=1_000_000, description="outgoing queue bound")
    inbox_size: int = Field(default=10000, ge=1, le=1_000_000, description="incoming dispatch queue bound")
    session_expiry_s: int = Field(
        default=0, ge=0, le=4_294_967_295,
        description="0: a clean session on every connect; else resume the broker's session (subscriptions and "
        "QoS 1 messages queued while away) kept this long after a disconnect",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        checks.reconnect_bounds(self)
        return self
