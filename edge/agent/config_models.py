"""The agent's configuration as pydantic models: the definition (``edge/agent/config.py`` documents the file).

An agent checks its file with the msgspec mirrors of these models (``edge/agent/config_structs.py``, generated
by ``python -m edge.agent.config_struct_writer``), calling the same rules (``edge/agent/config_checks.py``); these
models load only when a file is refused (for their error messages) or when something asks for them by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator

from edge.agent import config_checks
from edge.agent.config_checks import TOKEN_ENV, AgentPaths, ExecMode
from shared import fingerprint
from shared.commands import MAX_OUTPUT_LIMIT
from shared.log_format import LogFormat
from shared.messages.checks import MAX_PAYLOAD_BYTES
from shared.mqtt.settings import MqttSettings

__all__ = ["AgentConfig", "CameraSettings", "ClassTopSettings", "EnrolmentSettings", "EventSpoolSettings", "ExecMode",
           "ExecPolicy", "LogSettings", "OutboxSettings", "ProcessSettings", "SecretStr", "SimulatedDiskSettings",
           "UpgradeSettings"]  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecPolicy(_Section):
    """What remote ``exec`` may do on this machine (see the module docstring)."""

    mode: ExecMode = Field(default=ExecMode.ALLOWLIST, description="disabled | allowlist | any")
    allowlist: list[str] = Field(
        default_factory=list, max_length=1000, description="program names, absolute paths, or 're:<regex>'"
    )
    env_allowlist: list[str] = Field(
        default_factory=list, max_length=100, description="variables a request may set besides the harmless ones"
    )
    max_output_bytes: int = Field(
        default=64 * 1024, ge=1, le=min(MAX_OUTPUT_LIMIT, MAX_PAYLOAD_BYTES), description="cap per stream"
    )
    max_timeout_s: float = Field(default=600.0, gt=0, le=3600, description="largest timeout a request may ask")
    max_concurrent: int = Field(default=4, ge=1, le=64, description="commands running at once")
    max_queued: int = Field(default=0, ge=0, le=256, description="commands waiting for a slot ('queued')")
    kill_grace_s: float = Field(default=3.0, ge=0.1, le=60, description="SIGTERM -> SIGKILL delay on timeout")

    @field_validator("allowlist")
    @classmethod
    def _entries(cls, entries: list[str]) -> list[str]:
        return config_checks.allowlist_entries(entries)

    @field_validator("env_allowlist")
    @classmethod
    def _env_entries(cls, names: list[str]) -> list[str]:
        return config_checks.env_allowlist_entries(names)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(default="INFO")
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=64 * 1024, le=1024**3, description="rotate at this size")
    backups: int = Field(default=3, ge=1, le=50, description="rotated files kept")
    stderr: bool = Field(default=True, description="also log to stderr (journald under systemd)")
    format: LogFormat = Field(
        default="text",
        description="text lines, or one JSON object per line with command_id/agent_id keys (shared/log_format.py)",
    )


class CameraSettings(_Section):
    """The camera part ([camera]); cameras themselves are added by ``cctv_add_camera`` (kept in state_dir)."""

    enabled: bool = Field(default=False, description="answer cctv_* commands (loads OpenCV)")
    recordings_dir: Path | None = Field(default=None, description="where recordings go; default <state_dir>/recordings")
    stream_host: str = Field(default="127.0.0.1", max_length=255, description="MJPEG server address")
    stream_port: int = Field(default=8081, ge=0, le=65535, description="MJPEG server port (0: any free)")
    probe_max_index: int = Field(default=4, ge=0, le=63, description="cctv_detect_cameras probes 0..this")
    max_cameras: int = Field(default=8, ge=1, le=32, description="cameras this agent may have")
    disk_warn_free_mb: int = Field(default=2048, ge=0, description="warn (cctv.disk_low) below this much free")
    disk_reserve_mb: int = Field(default=512, ge=0, description="free space retention keeps; error below")
    retention_interval_s: float = Field(default=30.0, ge=0.2, le=3600, description="retention check period")


class OutboxSettings(_Section):
    """The durable outbox of responses and events ([outbox]); see ``edge/agent/outbox.py``."""

    max_items: int = Field(default=10_000, ge=10, le=1_000_000, description="oldest dropped beyond this")
    max_bytes: int = Field(
        default=32 * 1024 * 1024, ge=MAX_PAYLOAD_BYTES, le=1024**3, description="oldest dropped beyond this"
    )


class ClassTopSettings(_Section):
    """This PC's ClassTop courses and schedule ([classtop]); see ``edge/agent/classtop.py``."""

    import_path: Path | None = Field(
        default=None, description="a ClassTop client SQLite database or a JSON file, imported at start"
    )
    sync_interval_s: float = Field(
        default=300.0, ge=5, le=86400, description="seconds between snapshots sent to the LMS"
    )


class SimulatedDiskSettings(_Section):
    """Test-only ([simulated_disk], absent by default): one more disk in every metrics sample whose fullness is read
    from ``percent_file`` (a number 0-100) at each sample, so a test can "fill" a disk without filling one. It is
    reported as mount ``/simulated``, beside the real disks; a missing or bad file reports nothing extra."""

    percent_file: Path = Field(description="file holding the simulated disk's used percentage (0-100)")
    total_bytes: int = Field(default=100 * 1024**3, ge=1, le=1024**5, description="the simulated disk's size")


class EventSpoolSettings(_Section):
    """Test-only ([event_spool], absent by default): events dropped as files into ``directory`` are published as
    this agent's own (see ``edge/agent/event_spool.py``)."""

    directory: Path = Field(description="directory of the event files (one *.json file per event)")
    interval_s: float = Field(default=0.5, ge=0.1, le=3600, description="seconds between looks at the directory")


class ProcessSettings(_Section):
    """The expensive sample: the process list ([processes])."""

    interval_s: float = Field(
        default=600.0, ge=0, le=86400, description="seconds between process-list events (0: only on request)"
    )
    top: int = Field(default=15, ge=1, le=200, description="processes listed (top by CPU and by memory)")

    @field_validator("interval_s")
    @classmethod
    def _rare(cls, value: float) -> float:
        return config_checks.rare_process_scans(value)


class UpgradeSettings(BaseModel):
    """``[upgrade]``: where the versions live and the key packages must be signed with (edge.agent.upgrade)."""

    model_config = ConfigDict(extra="forbid")

    root: Path = Field(description="install root: versions/, current -> versions/<v> (docs/upgrades.md)")
    release_public_key: str = Field(min_length=40, max_length=64, description="Ed25519 release key, base64")
    download_timeout_s: float = Field(default=60.0, gt=0, le=600, description="HTTP timeout of the download")
    restart_delay_s: float = Field(default=0.5, ge=0, le=30, description="wait before exiting to restart")

    @field_validator("root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return config_checks.absolute_upgrade_root(value)

    @field_validator("release_public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return config_checks.valid_release_public_key(value)


class EnrolmentSettings(BaseModel):
    """``[enroll]``: where and how this agent enrols with its LMS (edge.agent.enrolment)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=500, description="the LMS, e.g. https://lms:8000"
    )
    ca_hash: str = Field(
        pattern=fingerprint.PATTERN, description="the site CA's fingerprint, sha256:<hex>, as the LMS shows it"
    )
    token_file: Path | None = Field(default=None, description=f"file holding the enrolment token ({TOKEN_ENV} wins)")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="HTTP timeout of one enrolment request")
    retry_min_s: float = Field(default=1.0, gt=0, le=60, description="first retry delay while the LMS is away")
    retry_max_s: float = Field(default=60.0, gt=0, le=3600, description="retry delay cap")

    @field_validator("url")
    @classmethod
    def _tls_on_the_lan(cls, url: str) -> str:
        return config_checks.tls_on_the_lan(url)

    @field_validator("ca_hash")
    @classmethod
    def _normalised(cls, value: str) -> str:
        return config_checks.normalised_ca_hash(value)


class AgentConfig(AgentPaths, _Section):
    """The whole file. Build it with :func:`load_config` (which resolves paths and the password)."""

    agent_id: str = Field(description="this agent's id: its topics, MQTT username and client id")
    mqtt: MqttSettings = Field(description="site broker connection ([mqtt] table)")
    heartbeat_s: float = Field(default=5.0, ge=0.5, le=300, description="seconds between heartbeats")
    metrics_s: float = Field(default=15.0, ge=1, le=3600, description="seconds between metrics samples")
    state_dir: Path = Field(default=Path("/var/lib/classtop-agent"), description="settings store and logs")
    exec: ExecPolicy = Field(default_factory=ExecPolicy, description="remote execution policy ([exec])")
    log: LogSettings = Field(default_factory=LogSettings, description="log file and level ([log])")
    camera: CameraSettings = Field(default_factory=CameraSettings, description="CCTV ([camera])")
    outbox: OutboxSettings = Field(default_factory=OutboxSettings, description="durable outbox ([outbox])")
    classtop: ClassTopSettings = Field(default_factory=ClassTopSettings, description="courses ([classtop])")
    processes: ProcessSettings = Field(default_factory=ProcessSettings, description="process list ([processes])")
    simulated_disk: SimulatedDiskSettings | None = Field(
        default=None, description="test-only: a disk whose fullness comes from a file ([simulated_disk]; off)"
    )
    event_spool: EventSpoolSettings | None = Field(
        default=None, description="test-only: events dropped as files, published as the agent's ([event_spool]; off)"
    )
    connect_wait_s: float = Field(default=10.0, ge=0, le=300, description="wait this long for the first CONNACK")
    stop_wait_s: float = Field(default=3.0, ge=0, le=60, description="wait this long for the offline PUBACK")
    upgrade: UpgradeSettings | None = Field(
        default=None, description="signed upgrades from the LMS ([upgrade]; see edge.agent.upgrade)"
    )
    enroll: EnrolmentSettings | None = Field(
        default=None, description="enrol with the LMS for broker credentials ([enroll]; see edge.agent.enrolment)"
    )

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, value: str) -> str:
        return config_checks.valid_agent_id(value)

    @model_validator(mode="before")
    @classmethod
    def _mqtt_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill ``[mqtt]`` from the agent id and resolve the password (env > password_file > password)."""
        return config_checks.mqtt_defaults(data, (info.context or {}).get("env"))

    @model_validator(mode="after")
    def _no_password_in_clear_on_the_lan(self) -> AgentConfig:
        config_checks.no_password_in_clear_on_the_lan(self)
        return self
