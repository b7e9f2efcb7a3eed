"""The LMS configuration file (TOML), validated with pydantic: unknown keys are errors, values are bounded.

Secrets do not belong in the file: the site-broker password comes from the environment variable
``CLASSTOP_LMS_BROKER_PASSWORD`` or from ``site_broker.password_file``. Relative paths in the file are
relative to the file's own directory.

TLS is the default on the school LAN (``[site_tls]``, ``http_tls``): the LMS's port serves HTTPS with a
certificate of the site CA; plain HTTP only on a loopback ``http_host``, or on the explicit opt-in listener
``[classtop_plain_http]`` for ClassTop clients that cannot do TLS. The LMS's own broker connection and the
broker address given to agents use TLS unless they stay on loopback.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.config_file import ConfigFileError, read_toml, resolve_path, resolve_secret
from shared.errors import TopicError
from shared.messages import describe_validation_error
from shared.mqtt import MqttSettings, TlsSettings, is_loopback
from shared.names import Namespace, check_stage, check_tenant
from shared.topics import check_id, site_thing_name

PASSWORD_ENV = "CLASSTOP_LMS_BROKER_PASSWORD"
DYNSEC_PASSWORD_ENV = "CLASSTOP_LMS_DYNSEC_PASSWORD"
BROKER_PLAIN_PORT, BROKER_TLS_PORT = 1883, 8883

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class ConfigError(Exception):
    """The configuration file is missing, unreadable, not TOML, or invalid. The message says why."""


class DynsecSettings(BaseModel):
    """``[site_broker.dynsec]``: the broker runs the dynamic-security plugin and the LMS issues agents' credentials.

    Without this section the broker authenticates from its password file (agents' passwords provisioned
    by hand) and enrolment is off.
    """

    model_config = ConfigDict(extra="forbid")

    username: str = Field(default="dynsec-admin", min_length=1, max_length=128, description="the plugin's admin user")
    password_file: Path | None = Field(
        default=None, description=f"file holding the admin password (the {DYNSEC_PASSWORD_ENV} variable wins)"
    )
    password: SecretStr | None = Field(default=None, description="filled from the variable or password_file")
    client_id: str = Field(default="lms-dynsec", min_length=1, max_length=128, description="admin MQTT client id")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="wait this long for the plugin's answer")
    advertise_host: str | None = Field(
        default=None, max_length=255, description="broker host given to enrolling agents (default: site_broker.host)"
    )
    advertise_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="broker port given to enrolling agents (default: site_broker.port when the LMS itself uses "
        "TLS, else 8883, the broker's TLS listener)",
    )
    advertise_tls: bool = Field(
        default=True,
        description="agents connect with TLS, pinned to the site CA; false only for a loopback advertise_host",
    )


class SiteBrokerSettings(MqttSettings):
    """Connection to the site's Mosquitto broker (the ``shared.mqtt`` settings plus a password file)."""

    client_id: str = Field(default="lms", min_length=1, max_length=128, description="MQTT client id")
    username: str | None = Field(default="lms", max_length=128, description="the LMS's broker user")
    password_file: Path | None = Field(
        default=None, description=f"file holding the broker password (the {PASSWORD_ENV} variable wins)"
    )
    dynsec: DynsecSettings | None = Field(
        default=None, description="dynamic-security admin: the LMS issues agents' broker credentials (enrolment)"
    )

    @model_validator(mode="after")
    def _no_password_in_clear_on_the_lan(self) -> Self:
        if self.tls is None and not is_loopback(self.host):
            raise ValueError(
                f"plain MQTT to {self.host} would send the LMS's broker password across the LAN in clear: add "
                "[site_broker.tls] (the site CA by default) and the broker's TLS port, or use a loopback host"
            )
        if self.dynsec is not None and not self.dynsec.advertise_tls:
            host = self.dynsec.advertise_host or self.host
            if not is_loopback(host):
                raise ValueError(
                    f"site_broker.dynsec.advertise_tls = false would give agents plain MQTT to {host}: agents on "
                    "the LAN connect with TLS (keep advertise_tls = true)"
                )
        return self

    def advertised(self) -> tuple[str, int, bool]:
        """(host, port, tls) given to enrolling agents (see :class:`DynsecSettings`)."""
        assert self.dynsec is not None
        dynsec = self.dynsec
        port = dynsec.advertise_port
        if port is None:
            same_kind = (self.tls is not None) == dynsec.advertise_tls  # the LMS's own port serves what agents get
            port = self.port if same_kind else (BROKER_TLS_PORT if dynsec.advertise_tls else BROKER_PLAIN_PORT)
        return dynsec.advertise_host or self.host, port, dynsec.advertise_tls

    def dynsec_admin(self) -> MqttSettings:
        """The MQTT settings of the dynamic-security admin connection (same broker, admin credentials)."""
        assert self.dynsec is not None
        base = MqttSettings.model_fields.keys()
        data = {k: v for k, v in self.model_dump().items() if k in base}
        data.update(client_id=self.dynsec.client_id, username=self.dynsec.username, password=self.dynsec.password)
        return MqttSettings.model_validate(data)


class SiteTlsSettings(BaseModel):
    """``[site_tls]``: the site CA (made at the first start) and the server certificates it signs.

    The CA's key stays in ``dir`` (0600). The LMS's HTTPS certificate lives there too; the broker's
    certificate, key and the CA certificate are written to ``broker_dir`` for Mosquitto. Both carry the
    site's names: ``hosts`` plus localhost, 127.0.0.1, ::1, this machine's host name, ``site_broker.host``,
    ``site_broker.dynsec.advertise_host`` and ``http_host`` (unless it is a wildcard).
    """

    model_config = ConfigDict(extra="forbid")

    dir: Path | None = Field(
        default=None, description="the CA and the LMS's certificate (default: site-ca/ beside db_path)"
    )
    broker_dir: Path | None = Field(
        default=None, description="the broker's certificate, key and the CA certificate (default: <dir>/broker)"
    )
    hosts: list[str] = Field(
        default_factory=list, max_length=64, description="LAN names and addresses agents and browsers use"
    )
    cert_days: int = Field(default=397, ge=2, le=825, description="server certificates are valid this long")
    renew_before_days: int = Field(default=30, ge=1, le=365, description="renew a server certificate this early")
    check_interval_s: float = Field(
        default=43200.0, ge=60, le=7 * 86400, description="how often a running LMS checks its certificates"
    )
    broker_key_mode: int = Field(
        default=0o640,
        ge=0o400,
        le=0o640,
        description="mode of the broker's key file (group-readable so a `mosquitto` group can read it)",
    )

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not (_is_ip(host) or (len(host) <= 253 and _DNS_NAME_RE.match(host))):
                raise ValueError(f"site_tls.hosts: {host!r} is not a host name or an IP address")
        return hosts

    @model_validator(mode="after")
    def _renew_in_time(self) -> Self:
        if self.renew_before_days >= self.cert_days:
            raise ValueError("site_tls.renew_before_days must be shorter than cert_days")
        return self


class PlainHttpSettings(BaseModel):
    """``[classtop_plain_http]``: an explicit opt-in plain-HTTP listener for ClassTop clients that cannot do TLS.

    It serves the ClassTop clients' paths only (health, register, sync, courses, schedule, ``/ws/{uuid}``):
    their timetables and remote commands travel in clear; tokens, enrolment and the console stay on the
    HTTPS port. The LMS logs a warning at every start.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, description="address to listen on (e.g. 0.0.0.0)")
    port: int = Field(ge=1, le=65535, description="its port (not http_port)")


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
    """The MQTT 5 link to AWS IoT Core (or, in the local twin, the plain-TCP Mosquitto standing in for it)."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255, description="IoT Core data endpoint or twin broker host")
    port: int = Field(default=8883, ge=1, le=65535, description="8883 for IoT Core (mTLS); the twin's TCP port")
    client_id: str | None = Field(
        default=None, description="MQTT client id = the site's IoT thing name (default derived; <= 128 bytes)"
    )
    tls: CloudTlsSettings | None = Field(default=None, description="mTLS files; absent = plain TCP (twin only)")
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


ClassTopPolicy = Literal["open", "approval"]


class ClassTopSettings(BaseModel):
    """``[classtop]``: unchanged ClassTop desktop clients (``/ws/{uuid}`` and the sync endpoints, which they call
    without credentials): who may join, and how much one source address or one connection may do."""

    model_config = ConfigDict(extra="forbid")

    client_policy: ClassTopPolicy = Field(
        default="approval",
        description="open: a new ClassTop client is approved at once; approval: it is kept pending (not "
        "commandable, not reported to the cloud, its sync refused) until a site admin approves it",
    )
    max_clients: int = Field(
        default=2000, ge=1, le=100_000, description="ClassTop clients kept (approved, pending, rejected); no more"
    )
    max_pending: int = Field(
        default=200, ge=1, le=100_000,
        description="clients waiting for approval; a new one replaces the longest-silent unconnected one or is refused",
    )  # fmt: skip
    max_connections: int = Field(default=2000, ge=1, le=100_000, description="/ws connections open at once")
    max_connections_per_address: int = Field(
        default=16, ge=1, le=100_000, description="/ws connections open at once from one source address"
    )
    connects_per_minute: int = Field(
        default=60, ge=1, le=1_000_000,
        description="/ws handshakes per source address per minute (a client reconnects every 5 s: 12)",
    )  # fmt: skip
    requests_per_minute: int = Field(
        default=120, ge=1, le=1_000_000,
        description="requests to the four ClassTop sync endpoints per source address per minute",
    )  # fmt: skip
    frames_per_second: float = Field(
        default=60.0, gt=0, le=10_000, description="frames one connection may send per second; more are dropped"
    )
    camera_frame_ttl_s: float = Field(
        default=60.0, gt=0, le=3600, description="a client's latest camera frame is forgotten this long after it came"
    )
    camera_frames_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024 * 1024, le=4 * 1024**3,
        description="memory for the latest camera frames of all clients; the oldest go first",
    )  # fmt: skip


class LmsConfig(BaseModel):
    """Everything one site's LMS needs."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(description="tenant (district) id, as in the cloud stack and topic prefixes")
    stage: str = Field(default="dev", description="the tenant's stage (its stack: dev, prod...), in every cloud name")
    site_id: str = Field(description="this site's id within the tenant")
    site_broker: SiteBrokerSettings = Field(default_factory=SiteBrokerSettings, description="site Mosquitto")
    cloud: CloudLinkSettings | None = Field(default=None, description="IoT Core link; absent = site-only LMS")
    db_path: Path = Field(default=Path("lms.db"), description="SQLite database (WAL) of the LMS")
    http_host: str = Field(default="127.0.0.1", min_length=1, max_length=255, description="web UI/API address")
    http_port: int = Field(default=8000, ge=1, le=65535, description="web UI/API port")
    http_tls: bool = Field(
        default=True,
        description="HTTPS/WSS on http_port (the site CA's certificate unless tls_cert_file); false = plain HTTP, "
        "allowed only on a loopback http_host",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate (chain) for HTTPS/WSS on http_port instead of the site CA's (e.g. a public "
        "CA's, for ClassTop clients)",
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")
    site_tls: SiteTlsSettings = Field(default_factory=SiteTlsSettings, description="the site CA ([site_tls])")
    classtop_plain_http: PlainHttpSettings | None = Field(
        default=None, description="opt-in plain-HTTP listener for ClassTop clients that cannot do TLS"
    )
    command_timeout_s: float = Field(default=30.0, gt=0, le=3600, description="default agent command timeout")
    presence_timeout_s: float = Field(
        default=20.0, ge=1, le=3600, description="an agent silent (no heartbeat/status) this long is offline"
    )
    site_heartbeat_s: float = Field(default=30.0, ge=1, le=3600, description="site heartbeat period to the cloud")
    log_level: LogLevel = Field(default="INFO", description="root log level")
    metrics_retention_days: float = Field(
        default=30.0, gt=0, le=3650, description="agents' metrics samples older than this are pruned"
    )
    metrics_prune_interval_s: float = Field(
        default=3600.0, ge=1, le=86400, description="how often old metrics samples are pruned (in batches)"
    )
    queue_default_ttl_s: float = Field(
        default=86400.0, gt=0, le=30 * 86400, description="how long a command queued for an offline agent waits"
    )
    classtop: ClassTopSettings = Field(
        default_factory=ClassTopSettings, description="ClassTop desktop clients: admission policy and limits"
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> LmsConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together (give both or neither)")
        if not self.http_tls:
            if self.tls_cert_file is not None:
                raise ValueError("tls_cert_file is for HTTPS: remove it or set http_tls = true")
            if not is_loopback(self.http_host):
                raise ValueError(
                    f"http_tls = false would serve the school LAN in clear on {self.http_host}: keep HTTPS (the "
                    "default), and serve ClassTop clients that cannot do TLS from [classtop_plain_http]"
                )
        plain = self.classtop_plain_http
        if plain is not None and plain.port == self.http_port and (
            plain.host == self.http_host or "0.0.0.0" in (plain.host, self.http_host)
        ):
            raise ValueError("classtop_plain_http.port must differ from http_port")
        return self

    @field_validator("tenant", "stage")
    @classmethod
    def _namespace_part(cls, v: str, info: ValidationInfo) -> str:
        try:
            return check_tenant(v) if info.field_name == "tenant" else check_stage(v)
        except TopicError as exc:
            raise ValueError(exc.message) from None

    @field_validator("site_id")
    @classmethod
    def _site_id(cls, v: str) -> str:
        try:
            return check_id(v, "site id")
        except TopicError as exc:
            raise ValueError(exc.message) from None

    @property
    def namespace(self) -> Namespace:
        return Namespace(self.tenant, self.stage)

    @property
    def thing_name(self) -> str:
        return site_thing_name(self.namespace, self.site_id)

    @property
    def cloud_client_id(self) -> str:
        """The client id on IoT Core: configured, or the site's thing name (what the IoT policy expects)."""
        if self.cloud is not None and self.cloud.client_id:
            return self.cloud.client_id
        return self.thing_name


def _resolve_paths(cfg: LmsConfig, base: Path) -> LmsConfig:
    db_path = resolve_path(base, cfg.db_path)
    assert db_path is not None
    update: dict[str, Any] = {
        "db_path": db_path, "tls_cert_file": resolve_path(base, cfg.tls_cert_file),
        "tls_key_file": resolve_path(base, cfg.tls_key_file),
    }  # fmt: skip
    site_tls = cfg.site_tls
    tls_dir = resolve_path(base, site_tls.dir) or db_path.parent / "site-ca"
    update["site_tls"] = site_tls.model_copy(
        update={"dir": tls_dir, "broker_dir": resolve_path(base, site_tls.broker_dir) or tls_dir / "broker"}
    )
    broker = cfg.site_broker
    if broker.tls is not None:
        broker = broker.model_copy(update={"tls": _resolved_tls(broker.tls, base)})
    if broker.password_file is not None:
        broker = broker.model_copy(update={"password_file": resolve_path(base, broker.password_file)})
    if broker.dynsec is not None and broker.dynsec.password_file is not None:
        dynsec = broker.dynsec.model_copy(update={"password_file": resolve_path(base, broker.dynsec.password_file)})
        broker = broker.model_copy(update={"dynsec": dynsec})
    update["site_broker"] = broker
    if cfg.cloud is not None and cfg.cloud.tls is not None:
        tls = cfg.cloud.tls
        new_tls = tls.model_copy(
            update={
                "ca_file": resolve_path(base, tls.ca_file),
                "cert_file": resolve_path(base, tls.cert_file),
                "key_file": resolve_path(base, tls.key_file),
            }
        )
        update["cloud"] = cfg.cloud.model_copy(update={"tls": new_tls})
    return cfg.model_copy(update=update)


def _resolved_tls(tls: TlsSettings, base: Path) -> TlsSettings:
    return tls.model_copy(
        update={"ca_file": resolve_path(base, tls.ca_file), "cert_file": resolve_path(base, tls.cert_file),
                "key_file": resolve_path(base, tls.key_file)}
    )  # fmt: skip


def _secret(env: Mapping[str, str], env_name: str, file: Path | None, value: SecretStr | None,
            what: str) -> SecretStr | None:
    inline = value.get_secret_value() if value is not None else None
    try:
        secret = resolve_secret(env, env_name, file, inline, what=what)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    return SecretStr(secret) if secret is not None else None


def _apply_password(cfg: LmsConfig, env: Mapping[str, str]) -> LmsConfig:
    broker = cfg.site_broker
    password = _secret(env, PASSWORD_ENV, broker.password_file, broker.password, "site_broker.password_file")
    broker = broker.model_copy(update={"password": password})
    if broker.username is not None and broker.password is None:
        raise ConfigError(
            f"no password for site broker user {broker.username!r}: set {PASSWORD_ENV} or site_broker.password_file"
        )
    if broker.dynsec is not None:
        broker = broker.model_copy(update={"dynsec": _dynsec_password(broker.dynsec, env)})
    return cfg.model_copy(update={"site_broker": broker})


def _dynsec_password(dynsec: DynsecSettings, env: Mapping[str, str]) -> DynsecSettings:
    password = _secret(env, DYNSEC_PASSWORD_ENV, dynsec.password_file, dynsec.password,
                       "site_broker.dynsec.password_file")
    dynsec = dynsec.model_copy(update={"password": password})
    if dynsec.password is None:
        raise ConfigError(
            f"no password for the dynamic-security admin {dynsec.username!r}: set {DYNSEC_PASSWORD_ENV} or "
            "site_broker.dynsec.password_file"
        )
    return dynsec


def _check_files(cfg: LmsConfig) -> None:
    for name, file in (("tls_cert_file", cfg.tls_cert_file), ("tls_key_file", cfg.tls_key_file)):
        if file is not None and not file.is_file():
            raise ConfigError(f"{name}: no such file {file}")
    if cfg.cloud is None or cfg.cloud.tls is None:
        return
    tls = cfg.cloud.tls
    for name, path in (("ca_file", tls.ca_file), ("cert_file", tls.cert_file), ("key_file", tls.key_file)):
        if path is not None and not path.is_file():
            raise ConfigError(f"cloud.tls.{name}: no such file {path}")


def parse_config(
    data: dict[str, Any], *, base_dir: Path, env: Mapping[str, str] | None = None
) -> LmsConfig:
    """Validate already-parsed TOML data; resolve paths against ``base_dir``; add the broker password."""
    try:
        cfg = LmsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {describe_validation_error(exc, limit=10)}") from None
    cfg = _resolve_paths(cfg, base_dir)
    cfg = _apply_password(cfg, os.environ if env is None else env)
    _check_files(cfg)
    return cfg


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> LmsConfig:
    """Read and validate the TOML file at ``path``. Raises :class:`ConfigError` with a readable message."""
    try:
        data = read_toml(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return parse_config(data, base_dir=path.resolve().parent, env=env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
