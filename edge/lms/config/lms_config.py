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

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from edge.lms.config.alert_settings import AlertSettings
from edge.lms.config.broker_settings import SiteBrokerSettings
from edge.lms.config.classtop_settings import ClassTopSettings
from edge.lms.config.cloud_settings import CloudLinkSettings
from edge.lms.config.console_settings import ConsoleSettings
from edge.lms.config.log_file_settings import LogFileSettings
from edge.lms.config.tls_settings import PlainHttpSettings, SiteTlsSettings
from edge.lms.upgrades.settings import UpgradeSettings
from shared.errors import TopicError
from shared.log_format import LogFormat
from shared.messages.checks import FULL_PERIOD_MAX_S, FULL_PERIOD_MIN_S
from shared.mqtt import is_loopback
from shared.names import Namespace, check_stage, check_tenant
from shared.topics import check_id, site_thing_name

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
#: ``exec`` at this site: ``allow`` (site admins and the cloud), ``local_only`` (site admins only: ``exec`` from the
#: cloud is refused), ``disabled`` (refused whoever asks). The agent's own ``[exec]`` policy still decides what runs.
ExecPolicy = Literal["allow", "local_only", "disabled"]


class LogSettings(BaseModel):
    """How the LMS writes its log ([log]); its level is ``log_level``."""

    model_config = ConfigDict(extra="forbid")

    format: LogFormat = Field(
        default="text", description="text lines, or one JSON object per line with tenant/site_id/agent_id/"
        "command_id keys (shared/log_format.py)"
    )


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
    site_heartbeat_s: float = Field(
        default=300.0, ge=FULL_PERIOD_MIN_S, le=FULL_PERIOD_MAX_S,
        description="full site heartbeat period to the cloud (agents' changes go at once, changed-only; a cut link "
        "shows at once from IoT Core); each heartbeat states it, and the cloud shows a connected but silent site "
        "down 2.5 periods (at least 150-180 s) after its last one",
    )
    log_level: LogLevel = Field(default="INFO", description="root log level")
    log: LogSettings = Field(default_factory=LogSettings, description="log line format ([log])")
    metrics_retention_days: float = Field(
        default=30.0, gt=0, le=3650, description="agents' metrics samples older than this are pruned"
    )
    metrics_prune_interval_s: float = Field(
        default=3600.0, ge=1, le=86400, description="how often old metrics samples are pruned (in batches)"
    )
    queue_default_ttl_s: float = Field(
        default=86400.0, gt=0, le=30 * 86400, description="how long a command queued for an offline agent waits"
    )
    exec_policy: ExecPolicy = Field(
        default="allow",
        description="exec at this site: allow (site admins and the cloud), local_only (exec from the cloud is "
        "refused), disabled (refused whoever asks); each agent's own [exec] policy still decides what runs",
    )
    console: ConsoleSettings = Field(
        default_factory=ConsoleSettings, description="the site console's sessions and sign-in limits ([console])"
    )
    classtop: ClassTopSettings = Field(
        default_factory=ClassTopSettings, description="ClassTop desktop clients: admission policy and limits"
    )
    log_file: LogFileSettings = Field(
        default_factory=LogFileSettings, description="the LMS's log file (<db_path's directory>/logs/lms.log)"
    )
    alerts: AlertSettings = Field(
        default_factory=AlertSettings, description="site alerting: webhook secret, history ([alerts]; docs/alerts.md)"
    )
    upgrades: UpgradeSettings | None = Field(
        default=None, description="agent upgrades: the release key and the download URL ([upgrades]; docs/upgrades.md)"
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

    @field_validator("tenant", "stage", "site_id")
    @classmethod
    def _name(cls, v: str, info: ValidationInfo) -> str:
        """The names in every topic and cloud resource of the site: as ``shared.names`` / ``shared.topics`` want."""
        try:
            if info.field_name == "site_id":
                return check_id(v, "site id")
            return check_tenant(v) if info.field_name == "tenant" else check_stage(v)
        except TopicError as exc:
            raise ValueError(exc.message) from None

    @property
    def log_path(self) -> Path:
        """The LMS's log file: ``logs/lms.log`` beside the database."""
        return self.db_path.parent / "logs" / "lms.log"

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
