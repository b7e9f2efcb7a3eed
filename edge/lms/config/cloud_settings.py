"""``[cloud]``: the MQTT 5 link to AWS IoT Core (or, in the local twin, the Mosquitto standing in for it), within
IoT Core's limits."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CloudTlsSettings(BaseModel):
    """Mutual TLS to AWS IoT Core: the thing's certificate and key, and the Amazon root CA."""

    model_config = ConfigDict(extra="forbid")

    ca_file: Path | None = Field(default=None, description="CA bundle (AmazonRootCA1.pem); system store if absent")
    cert_file: Path = Field(description="the site thing's certificate (PEM)")
    key_file: Path = Field(description="the site thing's private key (PEM)")


#: IoT Core's message-broker limits (AWS General Reference, "AWS IoT Core endpoints and quotas").
IOT_KEEPALIVE_MIN_S, IOT_KEEPALIVE_MAX_S = 30, 1200
IOT_CLIENT_ID_MAX_BYTES = 128


class CloudLinkSettings(BaseModel):
    """The MQTT 5 link to AWS IoT Core (or, in the local twin, the Mosquitto standing in for it, also over mTLS)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, description="IoT Core data endpoint or twin broker host")
    port: int = Field(default=8883, ge=1, le=65535, description="8883 for IoT Core (mTLS); the twin stand-in's port")
    client_id: str | None = Field(
        default=None, description="MQTT client id = the site's IoT thing name (default derived; <= 128 bytes)"
    )
    tls: CloudTlsSettings | None = Field(default=None, description="mTLS files; absent = plain TCP (test brokers only)")
    keepalive_s: int = Field(default=30, description="MQTT keep-alive, 30-1200 s as IoT Core accepts (awscrt: 1200)")
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=7 * 86400,
        description="broker keeps our session (queued commands) this long; IoT Core: 1 h unless the quota is raised",
    )
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120, description="CONNACK timeout")
    ack_timeout_s: int = Field(default=15, ge=1, le=300, description="PUBACK timeout of a cloud publish")
    reconnect_min_s: float = Field(default=1.0, gt=0, le=60, description="first reconnect delay")
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600, description="reconnect delay cap")
    outbox_window: int = Field(
        default=1,
        ge=1,
        le=100,
        description="outbox messages in flight at once; 1 keeps strict order even when one publish fails",
    )
    fanout_concurrency: int = Field(
        default=256, ge=1, le=10_000, description="agent commands of one cloud batch in flight at once"
    )

    @field_validator("keepalive_s")
    @classmethod
    def _keepalive(cls, value: int) -> int:
        if not IOT_KEEPALIVE_MIN_S <= value <= IOT_KEEPALIVE_MAX_S:
            raise ValueError(f"{value} s is outside 30-1200 s, the keep-alive IoT Core accepts")
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value.encode()) <= IOT_CLIENT_ID_MAX_BYTES:
            raise ValueError(f"IoT Core accepts a client id of 1-{IOT_CLIENT_ID_MAX_BYTES} bytes (UTF-8)")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self
