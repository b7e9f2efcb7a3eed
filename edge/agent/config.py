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

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from edge.agent import config_structs
from edge.agent.config_checks import PASSWORD_ENV, REGEX_PREFIX, ExecMode
from edge.agent.config_structs import (
    AgentConfig,
    CameraSettings,
    ClassTopSettings,
    EnrolmentSettings,
    EventSpoolSettings,
    ExecPolicy,
    LogSettings,
    OutboxSettings,
    ProcessSettings,
    SimulatedDiskSettings,
    UpgradeSettings,
)
from shared.config_file import ConfigFileError, read_toml

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "PASSWORD_ENV", "REGEX_PREFIX", "AgentConfig", "CameraSettings", "ClassTopSettings", "ConfigError",
    "EnrolmentSettings", "EventSpoolSettings", "ExecMode", "ExecPolicy", "LogSettings", "OutboxSettings",
    "ProcessSettings", "SimulatedDiskSettings", "UpgradeSettings", "load_config", "parse_config",
]  # fmt: skip


class ConfigError(Exception):
    """The configuration file is missing, not TOML, or invalid. The message says where and why."""


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
    """Validate already-parsed TOML data; raise :class:`ConfigError` naming each bad field.

    The msgspec mirrors check it (``edge/agent/config_structs.py``: the pydantic models' fields and rules, no
    pydantic loaded). Data they refuse goes to the pydantic models (``edge/agent/config_models.py``), whose error
    message is the one given, and which decide: what they accept (a lax value the mirrors take strictly, ``"5"``
    for 5) is taken, as their result."""
    if base is not None:
        data = _resolve_paths(data, base)
    try:
        return config_structs.load(data, env)
    except (msgspec.ValidationError, ValueError):
        pass
    return config_structs.from_model(pydantic_config(data, env=env, source=source))


def pydantic_config(data: dict[str, Any], *, env: Mapping[str, str] | None = None, source: str = "config") -> BaseModel:
    """``data`` (paths resolved) as the pydantic ``AgentConfig`` (loads pydantic); :class:`ConfigError` when
    invalid."""
    from pydantic import ValidationError

    from edge.agent.config_models import AgentConfig as Model
    from shared.messages.base import describe_validation_error

    try:
        return Model.model_validate(data, context={"env": env})
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
