"""The agent's configuration file (TOML), validated once at start-up.

Example (every key but ``agent_id`` has a default)::

    agent_id = "room-101-pc"          # also the MQTT username and client id unless [mqtt] says otherwise
    heartbeat_s = 5
    metrics_s = 15
    state_dir = "/var/lib/classtop-agent"   # settings.json and logs/; relative paths are from this file

    [mqtt]                             # shared.mqtt.MqttSettings, plus password_file
    host = "192.168.1.10"
    port = 8883                        # the site broker's TLS listener
    password_file = "/etc/classtop-agent/mqtt-password"
    tls = { ca_file = "/etc/classtop-agent/site-ca.pem" }   # the site CA (GET /api/enroll/ca on the LMS)

    [exec]
    mode = "allowlist"                 # disabled | allowlist | any
    allowlist = ["uptime", "/usr/bin/systemctl", "re:df( -h)?( /.*)?"]
    env_allowlist = ["BACKUP_TARGET"]  # variables a request may set besides locale/TZ/TERM (allowlist mode)
    max_output_bytes = 65536
    max_timeout_s = 600
    max_concurrent = 4

    [log]
    level = "INFO"
    format = "text"                    # or "json": one object per line (shared/log_format.py)

    [camera]                           # CCTV: see docs/cctv.md (cameras are added with cctv_add_camera)
    enabled = true
    stream_port = 8081

**TLS.** Plain MQTT is for a broker on this machine only: for any other host ``[mqtt.tls]`` is required (its
``ca_file`` the site CA), or ``[enroll]``, which pins the site CA and gets the TLS address from the LMS.

**Broker password.** In order of precedence: the environment variable ``CLASSTOP_AGENT_PASSWORD``, then the
file ``mqtt.password_file`` (first line, surrounding whitespace stripped), then ``mqtt.password`` in the file
itself (discouraged). ``password`` and ``password_file`` together are an error.

**Remote execution policy** (``[exec]``). The default is ``mode = "allowlist"`` with an *empty* allowlist:
an agent runs no remote command until its owner lists what may run (or chooses ``any``). ``disabled``
refuses every ``exec``. Allowlist entries come in three forms:

* ``"uptime"`` — a program name without ``/``: matches when the command's program is exactly that name
  (looked up on the fixed safe ``PATH`` ``/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin``,
  whatever the request's ``env`` or the agent's own ``PATH`` say); ``/tmp/x/uptime`` does *not* match it;
* ``"/usr/bin/systemctl"`` — an absolute path: matches that exact program path, given as such or as a name
  that resolves to it on the safe ``PATH`` (``systemctl``);
* ``"re:<regex>"`` — a Python regular expression that must match the *whole* command line in canonical
  form: ``shlex.join`` of its words (``argv``, or the words of ``cmd``), so ``re:df( -h)?`` accepts
  ``["df", "-h"]`` and ``"df   -h"`` alike.

In ``allowlist`` mode a ``cmd`` (shell) command is accepted only without shell syntax — no
``; & | < > ( ) $ ` \\ * ? [ ] { } ~ ! #`` or newlines — so an allowed program cannot be chained with a
disallowed one; its first word is the program, and its words run like ``argv``: no command goes through a
shell in allowlist mode. A program given with a ``/`` must be a normalised absolute path (``./ls`` is refused).
``env`` may set only harmless variables (locale, ``TZ``, ``TERM``, ``COLUMNS``, ``LINES``, ``NO_COLOR``, with
checked values) and the names listed in ``env_allowlist``; ``PATH``, ``LD_*``, ``PYTHON*``, ``HOME`` and every
other name are refused, and ``env_allowlist`` itself refuses names known to change what runs or loads.
``cwd`` must be a directory only root or the agent's user can change. Details: :mod:`edge.agent.exec_policy`
and :mod:`edge.agent.exec_env`. In ``any`` mode the request is run as given.

``max_output_bytes`` caps each of stdout and stderr (a request's ``output_limit`` may only lower it; the
whole response is also trimmed to the 128 KB message limit). A request whose ``timeout_s`` exceeds
``max_timeout_s`` is refused (``rejected_by_policy``) rather than silently cut short. At most
``max_concurrent`` commands run at once and at most ``max_queued`` (default 0) wait for a slot, reported
``queued``; one more is answered ``busy``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edge.agent.credentials import CREDENTIALS_FILE
from edge.agent.enrolment import EnrolmentSettings
from edge.agent.exec_env import check_env_allowlist_entry
from edge.agent.upgrade import UpgradeSettings
from shared.commands import MAX_OUTPUT_LIMIT
from shared.config_file import ConfigFileError, read_toml, resolve_secret
from shared.errors import TopicError
from shared.log_format import LogFormat
from shared.messages.base import describe_validation_error
from shared.messages.checks import MAX_PAYLOAD_BYTES
from shared.mqtt import MqttSettings, is_loopback
from shared.topics import check_id

PASSWORD_ENV = "CLASSTOP_AGENT_PASSWORD"
REGEX_PREFIX = "re:"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]{1,255}$")


class ConfigError(Exception):
    """The configuration file is missing, not TOML, or invalid. The message says where and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecMode(StrEnum):
    DISABLED = "disabled"
    ALLOWLIST = "allowlist"
    ANY = "any"


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
    max_timeout_s: float = Field(
        default=600.0, gt=0, le=3600, description="largest timeout a request may ask"
    )
    max_concurrent: int = Field(default=4, ge=1, le=64, description="commands running at once")
    max_queued: int = Field(default=0, ge=0, le=256, description="commands waiting for a slot ('queued')")
    kill_grace_s: float = Field(default=3.0, ge=0.1, le=60, description="SIGTERM -> SIGKILL delay on timeout")

    @field_validator("allowlist")
    @classmethod
    def _entries(cls, entries: list[str]) -> list[str]:
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
                    f"allowlist entry {entry!r}: use a program name (no '/'), an absolute path, "
                    "or 're:<regex>'"
                )
        return entries

    @field_validator("env_allowlist")
    @classmethod
    def _env_entries(cls, names: list[str]) -> list[str]:
        for name in names:
            check_env_allowlist_entry(name)
        return names


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(default="INFO")
    max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=64 * 1024, le=1024**3, description="rotate at this size"
    )
    backups: int = Field(default=3, ge=1, le=50, description="rotated files kept")
    stderr: bool = Field(default=True, description="also log to stderr (journald under systemd)")
    format: LogFormat = Field(
        default="text", description="text lines, or one JSON object per line with command_id/agent_id keys "
        "(shared/log_format.py)"
    )


class CameraSettings(_Section):
    """The camera part ([camera]); cameras themselves are added by ``cctv_add_camera`` (kept in state_dir)."""

    enabled: bool = Field(default=False, description="answer cctv_* commands (loads OpenCV)")
    recordings_dir: Path | None = Field(
        default=None, description="where recordings go; default <state_dir>/recordings"
    )
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
        if 0 < value < 10:
            raise ValueError("a process scan costs milliseconds: use 0 (only on request) or at least 10 s")
        return value


class AgentConfig(_Section):
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
    connect_wait_s: float = Field(
        default=10.0, ge=0, le=300, description="wait this long for the first CONNACK"
    )
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
        try:
            return check_id(value, "agent_id")
        except TopicError as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="before")
    @classmethod
    def _mqtt_defaults(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill ``[mqtt]`` from the agent id and resolve the password (env > password_file > password)."""
        if not isinstance(data, dict):
            return data
        mqtt = data.get("mqtt", {})
        if not isinstance(mqtt, dict):
            return data  # the field validator reports the wrong type
        mqtt = dict(mqtt)
        agent_id = data.get("agent_id")
        if isinstance(agent_id, str):
            mqtt.setdefault("client_id", agent_id)
            mqtt.setdefault("username", agent_id)
        env: Mapping[str, str] = (info.context or {}).get("env", os.environ)
        password_file = mqtt.pop("password_file", None)
        if password_file is not None and not isinstance(password_file, str | Path):
            raise ValueError("mqtt.password_file must be a path")
        try:
            password = resolve_secret(env, PASSWORD_ENV, password_file, mqtt.get("password"),
                                      what="mqtt.password_file")
        except ConfigFileError as exc:
            raise ValueError(str(exc)) from None
        if password is not None:
            mqtt["password"] = password
        return {**data, "mqtt": mqtt}

    @model_validator(mode="after")
    def _no_password_in_clear_on_the_lan(self) -> AgentConfig:
        if self.enroll is None and self.mqtt.tls is None and not is_loopback(self.mqtt.host):
            raise ValueError(
                f"mqtt: plain MQTT to {self.mqtt.host} would send the broker password across the LAN in clear: "
                "use the broker's TLS port with [mqtt.tls] ca_file = the site CA, or [enroll]"
            )
        return self

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


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative ``state_dir``, ``mqtt.password_file``, ``mqtt.tls.*_file``, ``classtop.import_path`` and
    ``enroll.token_file`` are relative to the config file's directory."""
    out = dict(data)
    state_dir = out.get("state_dir")
    if isinstance(state_dir, str) and state_dir and not Path(state_dir).is_absolute():
        out["state_dir"] = str(base / state_dir)
    mqtt = out.get("mqtt")
    if isinstance(mqtt, dict) and isinstance(mqtt.get("password_file"), str):
        pf = Path(mqtt["password_file"])
        if not pf.is_absolute():
            mqtt = out["mqtt"] = {**mqtt, "password_file": str(base / pf)}
    tls = mqtt.get("tls") if isinstance(mqtt, dict) else None
    if isinstance(mqtt, dict) and isinstance(tls, dict):
        files = {k: str(base / v) for k, v in tls.items() if k.endswith("_file") and isinstance(v, str)
                 and not Path(v).is_absolute()}  # fmt: skip
        out["mqtt"] = {**mqtt, "tls": {**tls, **files}}
    classtop = out.get("classtop")
    if isinstance(classtop, dict) and isinstance(classtop.get("import_path"), str):
        ip = Path(classtop["import_path"])
        if not ip.is_absolute():
            out["classtop"] = {**classtop, "import_path": str(base / ip)}
    enroll = out.get("enroll")
    if isinstance(enroll, dict) and isinstance(enroll.get("token_file"), str):
        tf = Path(enroll["token_file"])
        if not tf.is_absolute():
            out["enroll"] = {**enroll, "token_file": str(base / tf)}
    return out


def parse_config(
    data: dict[str, Any],
    *,
    base: Path | None = None,
    env: Mapping[str, str] | None = None,
    source: str = "config",
) -> AgentConfig:
    """Validate already-parsed TOML data; raise :class:`ConfigError` naming each bad field."""
    if base is not None:
        data = _resolve_paths(data, base)
    context = {"env": os.environ if env is None else env}
    try:
        return AgentConfig.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe_validation_error(exc, limit=10)}") from None


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and validate the TOML file at ``path``. Every failure is a :class:`ConfigError`."""
    path = Path(path)
    try:
        data = read_toml(path)
    except ConfigFileError as exc:
        raise ConfigError(str(exc)) from None
    return parse_config(data, base=path.absolute().parent, env=env, source=str(path))
