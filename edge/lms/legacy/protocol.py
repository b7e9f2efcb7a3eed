"""The ClassTop client's WebSocket protocol (docs/classtop.md#websocket-remote-control-wsclient_uuid): its frames
and its commands.

* :func:`parse_frame` turns one text frame into a :class:`Frame` or raises :class:`FrameError` (too big,
  not JSON, not an object, unknown ``type``, bad fields) — the hub logs and drops those.
* :func:`to_wire` maps an LMS command onto what the client runs: its own commands (settings, ``refresh_state``,
  ``camera_*``) as they are, a few ``cctv_*`` commands onto ``camera_*``; anything else is refused at once
  with :class:`shared.errors.CommandError` (``exec`` and the rest have no meaning on a ClassTop client).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.commands import MAX_SETTING_VALUE, setting_value, validate_params
from shared.errors import CommandError, ErrorCode

#: The largest frame the LMS takes: uvicorn's ``ws_max_size`` (a bigger one closes the connection with 1009);
#: :func:`parse_frame` checks it again for transports that let one through.
MAX_FRAME_BYTES = 1024 * 1024
#: A ``state_update`` carries at most this many settings, keys of at most :data:`MAX_SETTING_KEY` characters and
#: values of at most :data:`shared.commands.MAX_SETTING_VALUE` (ClassTop has ~40 settings).
MAX_SETTINGS = 500
MAX_SETTING_KEY = 128
#: The client sends a heartbeat every 30 s (fixed in the client).
CLIENT_HEARTBEAT_S = 30.0

#: Commands the client runs itself; the settings ones are validated with the shared catalogue.
SETTINGS_COMMANDS = frozenset({"get_all_settings", "get_setting", "set_setting", "update_settings_batch",
                               "refresh_state"})  # fmt: skip
CAMERA_COMMANDS = frozenset({
    "camera_initialize", "camera_get_cameras", "camera_get_encoders", "camera_start_recording",
    "camera_stop_recording", "camera_get_status", "camera_start_streaming", "camera_stop_streaming",
    "camera_start_preview", "camera_stop_preview",
})  # fmt: skip
#: The LMS's CCTV commands that have a ClassTop equivalent (``camera_id`` becomes ``camera_index``).
CCTV_MAP = {
    "cctv_detect_cameras": "camera_get_cameras",
    "cctv_get_all_states": "camera_get_status",
    "cctv_get_camera_state": "camera_get_status",
    "cctv_start_recording": "camera_start_recording",
    "cctv_stop_recording": "camera_stop_recording",
    "cctv_start_streaming": "camera_start_streaming",
    "cctv_stop_streaming": "camera_stop_streaming",
}
MAX_CAMERA_INDEX = 63


class FrameError(Exception):
    """A frame the hub drops (the message says why)."""


@dataclass(frozen=True, slots=True)
class Frame:
    type: str
    body: dict[str, Any]


def parse_frame(raw: str | bytes) -> Frame:
    size = len(raw)
    if size > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {size} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None
    except RecursionError:
        raise FrameError("frame is not JSON the LMS reads: it nests arrays/objects too deeply") from None
    if not isinstance(body, dict):
        raise FrameError(f"frame is a JSON {type(body).__name__}, not an object")
    kind = body.get("type")
    if kind == "state_update":
        data = body.get("data")
        settings = data.get("settings") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(settings, dict):
            raise FrameError("state_update without data.settings object")
        data["settings"] = _settings(settings)
    elif kind == "heartbeat":
        pass
    elif kind == "response":
        if "request_id" not in body or not isinstance(body.get("success"), bool):
            raise FrameError("response without request_id or boolean success")
    elif kind == "camera_frame":
        index = body.get("camera_index")
        if not isinstance(body.get("frame"), str) or not isinstance(index, int) or isinstance(index, bool):
            raise FrameError("camera_frame without int camera_index and string frame")
        if not 0 <= index <= MAX_CAMERA_INDEX:
            raise FrameError(f"camera_frame camera_index {index} is not 0-{MAX_CAMERA_INDEX}")
    else:
        raise FrameError(f"unknown frame type {kind!r}")
    return Frame(str(kind), body)


def _settings(raw: dict[str, Any]) -> dict[str, str]:
    """A ``state_update``'s settings as ClassTop strings, within the bounds (else :class:`FrameError`)."""
    if len(raw) > MAX_SETTINGS:
        raise FrameError(f"state_update with {len(raw)} settings (at most {MAX_SETTINGS})")
    out: dict[str, str] = {}
    for key, value in raw.items():
        text = value if isinstance(value, str) else json.dumps(value) if value is not None else ""
        if len(key) > MAX_SETTING_KEY or len(text) > MAX_SETTING_VALUE:
            raise FrameError(f"state_update setting {key[:40]!r}: keys are at most {MAX_SETTING_KEY} characters, "
                             f"values at most {MAX_SETTING_VALUE}")  # fmt: skip
        out[key] = text
    return out


def settings_of(frame: Frame) -> dict[str, str]:
    """The settings of a ``state_update`` (values as ClassTop strings; checked by :func:`parse_frame`)."""
    settings: dict[str, str] = frame.body["data"]["settings"]
    return dict(settings)


def validate(command: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a command for a ClassTop client; the normalised params. Raises :class:`CommandError`."""
    if command in SETTINGS_COMMANDS:
        return validate_params(command, params).model_dump(mode="json", exclude_unset=True)
    if command in CAMERA_COMMANDS:
        if not isinstance(params, dict):
            raise CommandError(f"params of {command} must be a JSON object", code=ErrorCode.INVALID_PARAMS)
        return params
    if command in CCTV_MAP:
        clean = validate_params(command, params).model_dump(mode="json", exclude_unset=True)
        camera = clean.get("camera_id")
        if camera is not None and not (str(camera).isdigit() and int(camera) <= MAX_CAMERA_INDEX):
            raise CommandError(
                f"{command} on a ClassTop client needs a numeric camera_id (its camera index), not {camera!r}",
                code=ErrorCode.INVALID_PARAMS,
            )
        return clean
    raise CommandError(
        f"{command} is not available on a ClassTop desktop client (it runs settings, refresh_state, camera_* and "
        f"{', '.join(sorted(CCTV_MAP))})",
        code=ErrorCode.UNKNOWN_COMMAND,
    )


def to_wire(request_id: str, command: str, params: dict[str, Any]) -> dict[str, Any]:
    """The client's command frame for a validated command."""
    wire_command, wire_params = command, params
    if command in CCTV_MAP:
        wire_command = CCTV_MAP[command]
        wire_params = {k: v for k, v in params.items() if k != "camera_id"}
        if "camera_id" in params:
            wire_params["camera_index"] = int(params["camera_id"])
    return {"type": "command", "request_id": request_id, "command": wire_command, "params": wire_params}


def written_settings(command: str, params: dict[str, Any]) -> dict[str, str] | None:
    """The settings a successful write changes (to update the cache), else ``None``."""
    if command == "set_setting":
        return {params["key"]: setting_value(params["value"])}
    if command == "update_settings_batch":
        return {k: setting_value(v) for k, v in params["settings"].items()}
    return None
