"""The command catalogue: every command the system knows, its parameters, and who may send it.

Names follow the seeds' LMS (settings and CCTV commands) plus ``exec`` (the seeds' remote shell commands) and
agent housekeeping; docs/seeds.md ("Commands") maps each to the seed that names it. ``validate_params`` is used
by every tier before a command leaves or is run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.agent_packages import SHA256_PATTERN, SIGNATURE_PATTERN, VERSION_PATTERN
from shared.cctv import (
    CameraConfig,
    CameraRef,
    CamerasDesired,
    CleanupStorageParams,
    DetectCamerasParams,
    GetRecordingsParams,
    HoldRecordingParams,
    OptionalCameraRef,
    RecordingRef,
    SnapshotParams,
)
from shared.errors import CommandError, ErrorCode
from shared.log_export import LogRange, PresignedPost
from shared.messages import checks
from shared.messages.base import Strict, describe_validation_error

MAX_OUTPUT_LIMIT = 1024 * 1024
DEFAULT_OUTPUT_LIMIT = 64 * 1024
SETTING_KEY_PATTERN = checks.SETTING_KEY_PATTERN
MAX_SETTING_VALUE = checks.MAX_SETTING_VALUE
#: in the pydantic-free checks (the shadows' documents use it without loading the catalogue); named here as before
setting_value = checks.setting_value


class Category(StrEnum):
    SETTINGS = "settings"
    CCTV = "cctv"
    SYSTEM = "system"
    CLASSTOP = "classtop"


#: A setting's value as JSON Schema says it (what :func:`setting_value` takes).
SETTING_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "maxLength": MAX_SETTING_VALUE}, {"type": "number"}, {"type": "boolean"}]
}
#: Settings ``{key: value}`` as JSON Schema says them (what :class:`UpdateSettingsBatchParams` takes).
SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object", "patternProperties": {SETTING_KEY_PATTERN: SETTING_VALUE_SCHEMA}, "additionalProperties": False,
}  # fmt: skip



def setting_value_schema(schema: dict[str, Any]) -> None:
    """A field's JSON Schema made :data:`SETTING_VALUE_SCHEMA` (a field's ``json_schema_extra``)."""
    for key in ("type", "anyOf", "maxLength"):
        schema.pop(key, None)
    schema.update(SETTING_VALUE_SCHEMA)


# ---------------------------------------------------------------- parameter models


class NoParams(Strict):
    pass


class GetSettingParams(Strict):
    key: str = Field(pattern=SETTING_KEY_PATTERN)


class SetSettingParams(Strict):
    key: str = Field(pattern=SETTING_KEY_PATTERN)
    value: str = Field(json_schema_extra=setting_value_schema)

    @field_validator("value", mode="before")
    @classmethod
    def _as_string(cls, v: Any) -> str:
        return setting_value(v)


class UpdateSettingsBatchParams(Strict):
    settings: dict[str, str] = Field(min_length=1, max_length=500, json_schema_extra=SETTINGS_SCHEMA)

    @field_validator("settings", mode="before")
    @classmethod
    def _as_strings(cls, v: Any) -> dict[str, str]:
        if not isinstance(v, dict):
            raise ValueError("settings must be an object of key -> value")
        out: dict[str, str] = {}
        for key, value in v.items():
            if not isinstance(key, str) or not re.fullmatch(SETTING_KEY_PATTERN, key):
                raise ValueError(f"invalid setting key {key!r}")
            out[key] = setting_value(value)
        return out


def _cmd_or_argv(schema: dict[str, Any]) -> None:
    """:class:`ExecParams` as JSON Schema says it: exactly one of ``cmd`` and ``argv``, not null."""
    for name in ("cmd", "argv"):
        prop = schema["properties"][name]
        (given,) = [s for s in prop.pop("anyOf") if s.get("type") != "null"]
        prop.update(given)
        prop.pop("default", None)
    schema["oneOf"] = [{"required": ["cmd"]}, {"required": ["argv"]}]


class ExecParams(Strict):
    """A process to run: ``cmd`` through ``/bin/sh -c``, or ``argv`` without a shell — exactly one."""

    model_config = ConfigDict(json_schema_extra=_cmd_or_argv)

    cmd: str | None = Field(default=None, min_length=1, max_length=8192)
    argv: list[str] | None = Field(default=None, min_length=1, max_length=256)
    timeout_s: float = Field(default=30.0, gt=0, le=3600, description="kill the process tree after this")
    cwd: str | None = Field(default=None, max_length=4096)
    env: dict[str, str] | None = Field(default=None, max_length=256, description="added to a minimal environment")
    output_limit: int = Field(default=DEFAULT_OUTPUT_LIMIT, ge=1, le=MAX_OUTPUT_LIMIT)
    stdin: str | None = Field(default=None, max_length=65536)

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.cmd is None) == (self.argv is None):
            raise ValueError("give exactly one of 'cmd' (shell) or 'argv' (no shell)")
        return self


class GetLogsParams(LogRange):
    """Recent lines inline (``lines``, at most ~96 KB), or with ``upload`` (set by the cloud only: the LMS's API
    refuses it) the records of ``since``..``until`` gzipped under ``max_bytes`` and POSTed to the tenant's bucket
    (shared/log_export.py; docs/logs.md)."""

    lines: int = Field(default=200, ge=1, le=5000, description="inline: the newest this many lines")
    upload: PresignedPost | None = Field(default=None, description="a presigned S3 POST (from the cloud only)")


# ---------------------------------------------------------------- ClassTop data (docs/seeds.md; docs/classtop.md)

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MAX_COURSES = 300
MAX_SCHEDULE_ENTRIES = 600
MAX_WEEK = checks.MAX_WEEK


class Course(Strict):
    """A ClassTop course, with the client's own ``id``."""

    id: int = Field(ge=0, le=2**53)
    name: str = Field(min_length=1, max_length=200)
    teacher: str = Field(default="", max_length=200)
    location: str = Field(default="", max_length=200)
    color: str = Field(default="", max_length=32)
    note: str | None = Field(default=None, max_length=2000)


class ScheduleEntry(Strict):
    """One weekly slot of a course: ``day_of_week`` 1-7 (Monday = 1), ``"HH:MM"`` times (it ends after it
    starts), teaching weeks."""

    id: int = Field(ge=0, le=2**53)
    course_id: int = Field(ge=0, le=2**53)
    day_of_week: int = Field(ge=1, le=7)
    start_time: str = Field(pattern=TIME_PATTERN)
    end_time: str = Field(pattern=TIME_PATTERN)
    weeks: list[int] = Field(default_factory=list, max_length=MAX_WEEK,
                             json_schema_extra={"items": {"type": "integer", "minimum": 1, "maximum": MAX_WEEK}})

    @field_validator("weeks")
    @classmethod
    def _weeks(cls, weeks: list[int]) -> list[int]:
        return checks.schedule_weeks(weeks)

    @model_validator(mode="after")
    def _order(self) -> Self:
        checks.schedule_order(self)
        return self


class ClassTopData(Strict):
    """A PC's whole ClassTop timetable: ids unique, every entry's ``course_id`` an existing course."""

    courses: list[Course] = Field(default_factory=list, max_length=MAX_COURSES)
    schedule_entries: list[ScheduleEntry] = Field(default_factory=list, max_length=MAX_SCHEDULE_ENTRIES)

    @model_validator(mode="after")
    def _references(self) -> Self:
        checks.classtop_references(self)
        return self


class ClassTopSnapshot(ClassTopData):
    """``data`` of an ``Event(kind="classtop.snapshot")``: apply when ``(epoch, version)`` is new."""

    epoch: str = Field(min_length=1, max_length=64, description="changes when the agent's store is recreated")
    version: int = Field(ge=0, description="increases by one with every change of content")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the canonical courses+entries JSON")
    updated_at: float = Field(ge=0)
    source: str = Field(default="", max_length=512, description="where the data last came from")


class SetCoursesParams(Strict):
    """Replace every course (a full snapshot, as ClassTop sync does)."""

    courses: list[Course] = Field(max_length=MAX_COURSES)


class SetScheduleParams(Strict):
    """Replace every schedule entry (a full snapshot)."""

    schedule_entries: list[ScheduleEntry] = Field(max_length=MAX_SCHEDULE_ENTRIES)


class GetProcessesParams(Strict):
    top: int = Field(default=15, ge=1, le=200, description="processes listed by CPU and by memory")


class UpgradeAgentParams(Strict):
    """Install a signed agent package from the LMS and restart into it (edge/agent/upgrade.py; docs/upgrades.md)."""

    url: str = Field(pattern=r"^https?://", max_length=2048, description="where the LMS serves the package")
    version: str = Field(pattern=VERSION_PATTERN, description="the package's version; must be newer than the agent's")
    sha256: str = Field(pattern=SHA256_PATTERN, description="sha256 (hex) of the package")
    signature: str = Field(pattern=SIGNATURE_PATTERN, description="the release key's Ed25519 signature (base64)")
    rollback_s: float = Field(
        default=300.0, ge=5, le=3600, description="roll back unless the new version is online within this long"
    )


class RotateBrokerPasswordParams(Strict):
    """``rotate_broker_password``: the agent's next broker password (the LMS sets it on the broker only after the
    agent has stored it; docs/security.md#rotation-of-certificates-and-credentials-issue-19)."""

    password: str = Field(min_length=16, max_length=512, pattern=r"^[A-Za-z0-9_-]+$")


MAX_CA_PEM = 8192


class TrustSiteCaParams(Strict):
    """``trust_site_ca``: the site CA certificates the agent trusts from now on (PEM, 1-3: the current one and, during
    a CA rotation, the next); it must keep trusting the CA that verified this very connection until the switch."""

    ca_pems: list[str] = Field(min_length=1, max_length=3)

    @field_validator("ca_pems")
    @classmethod
    def _pem(cls, pems: list[str]) -> list[str]:
        for pem in pems:
            if len(pem) > MAX_CA_PEM or "-----BEGIN CERTIFICATE-----" not in pem:
                raise ValueError(f"each of ca_pems must be one PEM certificate of at most {MAX_CA_PEM} characters")
        return pems


# ---------------------------------------------------------------- catalogue


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    category: Category
    description: str
    params: type[BaseModel] = NoParams
    admin_only: bool = False
    mutating: bool = False
    #: sent only by the LMS relaying a device shadow (source ``shadow``); every API refuses it from a caller
    shadow_only: bool = False
    #: sent only by the LMS itself (source ``lms``: credential and CA rotation); every API and the cloud refuse it
    lms_only: bool = False
    #: params never written to a log, journal or audit entry
    secret_params: frozenset[str] = frozenset()


def _cctv(
    name: str, description: str, params: type[BaseModel] = NoParams, mutating: bool = False
) -> CommandSpec:
    return CommandSpec(name, Category.CCTV, description, params, mutating=mutating)


CATALOGUE: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        # settings (the seeds' LMS; docs/seeds.md)
        CommandSpec("get_all_settings", Category.SETTINGS, "all settings as {key: str}"),
        CommandSpec("get_setting", Category.SETTINGS, "one setting (null when unset)", GetSettingParams),
        CommandSpec("set_setting", Category.SETTINGS, "set one setting", SetSettingParams, mutating=True),
        CommandSpec(
            "update_settings_batch", Category.SETTINGS, "set several settings", UpdateSettingsBatchParams,
            mutating=True,
        ),
        CommandSpec("refresh_state", Category.SETTINGS, "send a fresh state_update"),
        # CCTV (the seeds' 15, plus cctv_hold_recording and cctv_snapshot; models in shared/cctv.py)
        _cctv("cctv_detect_cameras", "detect local and configured cameras", DetectCamerasParams),
        _cctv("cctv_add_camera", "add (or replace) a camera", CameraConfig, mutating=True),
        _cctv("cctv_remove_camera", "remove a camera (its recordings stay)", CameraRef, mutating=True),
        _cctv("cctv_get_camera_resolutions", "supported resolutions of a camera", CameraRef),
        _cctv("cctv_start_recording", "start recording", CameraRef, mutating=True),
        _cctv("cctv_stop_recording", "stop recording", CameraRef, mutating=True),
        _cctv("cctv_start_streaming", "start MJPEG streaming", CameraRef, mutating=True),
        _cctv("cctv_stop_streaming", "stop streaming", CameraRef, mutating=True),
        _cctv("cctv_get_camera_state", "state of one camera", CameraRef),
        _cctv("cctv_get_all_states", "state of every camera"),
        _cctv("cctv_get_storage_info", "recording storage usage", OptionalCameraRef),
        _cctv("cctv_cleanup_storage", "apply retention now", CleanupStorageParams, mutating=True),
        _cctv("cctv_get_recordings", "list recordings", GetRecordingsParams),
        _cctv("cctv_delete_recording", "delete one recording", RecordingRef, mutating=True),
        _cctv("cctv_hold_recording", "hold (or release) a recording: cleanup never deletes it",
              HoldRecordingParams, mutating=True),
        _cctv("cctv_get_config", "camera configuration"),
        _cctv("cctv_snapshot", "one JPEG: inline, or PUT to upload_url (a presigned URL)", SnapshotParams),
        CommandSpec("cctv_apply_config", Category.CCTV, "apply the cameras set in the cloud (the agent's cctv: shadow)",
                    CamerasDesired, mutating=True, shadow_only=True),
        # system (the seeds' monitoring and remote shell commands)
        CommandSpec("exec", Category.SYSTEM, "run a shell command", ExecParams, admin_only=True, mutating=True),
        CommandSpec("ping", Category.SYSTEM, "liveness check; returns the agent's time"),
        CommandSpec("get_info", Category.SYSTEM, "agent version, OS and hardware inventory"),
        CommandSpec("get_metrics", Category.SYSTEM, "a fresh metrics sample"),
        CommandSpec("get_logs", Category.SYSTEM, "recent agent log lines, or a range uploaded (gzip)", GetLogsParams),
        CommandSpec("get_processes", Category.SYSTEM, "top processes by CPU and memory", GetProcessesParams),
        CommandSpec("upgrade_agent", Category.SYSTEM, "install a signed agent package and restart into it",
                    UpgradeAgentParams, admin_only=True, mutating=True),
        # site operations (issue 19): sent by the LMS itself, over the agent's authenticated broker connection
        CommandSpec("rotate_broker_password", Category.SYSTEM, "store the next broker password, use it from the next "
                    "connection", RotateBrokerPasswordParams, admin_only=True, mutating=True, lms_only=True,
                    secret_params=frozenset({"password"})),
        CommandSpec("trust_site_ca", Category.SYSTEM, "trust these site CA certificates from now on (CA rotation)",
                    TrustSiteCaParams, admin_only=True, mutating=True, lms_only=True),
        # ClassTop data: this PC's courses and schedule
        CommandSpec("get_courses", Category.CLASSTOP, "{courses: [...]}"),
        CommandSpec("set_courses", Category.CLASSTOP, "replace every course", SetCoursesParams, mutating=True),
        CommandSpec("get_schedule", Category.CLASSTOP, "{schedule_entries: [...]}"),
        CommandSpec(
            "set_schedule", Category.CLASSTOP, "replace every schedule entry", SetScheduleParams, mutating=True
        ),
        CommandSpec(
            "sync_classtop_data", Category.CLASSTOP, "re-import the configured ClassTop data and send a snapshot",
            mutating=True,
        ),
    )
}


def loggable_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the command's secret ones hidden (for logs, journals and audit entries)."""
    spec = CATALOGUE.get(name)
    secret = spec.secret_params if spec is not None else frozenset()
    return {k: ("<hidden>" if k in secret else v) for k, v in params.items()} if secret else params


def get_spec(name: str) -> CommandSpec:
    spec = CATALOGUE.get(name)
    if spec is None:
        raise CommandError(f"Unknown command: {name}", code=ErrorCode.UNKNOWN_COMMAND)
    return spec


def validate_params(name: str, params: Any) -> BaseModel:
    """Validate ``params`` for command ``name``; raise :class:`CommandError` with a clear message."""
    spec = get_spec(name)
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise CommandError(f"params of {name} must be a JSON object", code=ErrorCode.INVALID_PARAMS)
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        raise CommandError(
            f"invalid params for {name}: {describe_validation_error(exc)}", code=ErrorCode.INVALID_PARAMS
        ) from None
