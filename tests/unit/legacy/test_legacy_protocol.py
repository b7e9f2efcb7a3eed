"""The ClassTop client's frames and commands as the hub sees them."""

from __future__ import annotations

import json

import pytest

from edge.lms.legacy import protocol
from edge.lms.legacy.protocol import MAX_FRAME_BYTES, FrameError
from shared.errors import CommandError, ErrorCode


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (json.dumps({"type": "heartbeat", "pad": "x" * MAX_FRAME_BYTES}), "exceeds"),
        ("{nope", "not JSON"),
        ("[1]", "not an object"),
        (json.dumps({"type": "hello"}), "unknown frame type"),
        (json.dumps({"type": "state_update", "data": {}}), "data.settings"),
        (json.dumps({"type": "response", "request_id": "r1"}), "boolean success"),
        (json.dumps({"type": "camera_frame", "camera_index": "0", "frame": "x"}), "camera_index"),
        ("[" * 20_000, "nests"),
    ],
)
def test_bad_frames_are_refused(raw: str, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        protocol.parse_frame(raw)


def test_state_update_settings_become_strings() -> None:
    frame = protocol.parse_frame(json.dumps({"type": "state_update", "data": {"settings": {"a": "1", "b": 2}}}))
    assert protocol.settings_of(frame) == {"a": "1", "b": "2"}


def test_commands_map_onto_the_client() -> None:
    assert protocol.validate("set_setting", {"key": "show_clock", "value": True}) == {"key": "show_clock",
                                                                                       "value": "true"}  # fmt: skip
    params = protocol.validate("cctv_start_recording", {"camera_id": "1"})
    assert protocol.to_wire("r1", "cctv_start_recording", params) == {
        "type": "command", "request_id": "r1", "command": "camera_start_recording", "params": {"camera_index": 1}
    }  # fmt: skip
    assert protocol.to_wire("r2", "camera_get_status", {})["params"] == {}


@pytest.mark.parametrize(
    ("command", "params", "code"),
    [
        ("exec", {"cmd": "whoami"}, ErrorCode.UNKNOWN_COMMAND),
        ("get_info", {}, ErrorCode.UNKNOWN_COMMAND),
        ("cctv_add_camera", {"camera_id": "c1"}, ErrorCode.UNKNOWN_COMMAND),
        ("cctv_start_recording", {"camera_id": "front-door"}, ErrorCode.INVALID_PARAMS),
        ("set_setting", {"key": "bad key!", "value": "1"}, ErrorCode.INVALID_PARAMS),
    ],
)
def test_commands_a_client_cannot_run_are_refused(command: str, params: dict[str, str], code: ErrorCode) -> None:
    with pytest.raises(CommandError) as exc:
        protocol.validate(command, params)
    assert exc.value.code is code
