from __future__ import annotations

import pytest

from shared.commands import CATALOGUE, ExecParams, get_spec, validate_params
from shared.errors import CommandError, ErrorCode

SEED_002 = [
    "get_all_settings", "get_setting", "set_setting", "update_settings_batch", "refresh_state",
    "cctv_detect_cameras", "cctv_add_camera", "cctv_remove_camera", "cctv_get_camera_resolutions",
    "cctv_start_recording", "cctv_stop_recording", "cctv_start_streaming", "cctv_stop_streaming",
    "cctv_get_camera_state", "cctv_get_all_states", "cctv_get_storage_info", "cctv_cleanup_storage",
    "cctv_get_recordings", "cctv_delete_recording", "cctv_get_config",
]  # fmt: skip


def test_catalogue_has_every_seed_command_and_exec() -> None:
    for name in [*SEED_002, "exec"]:
        assert name in CATALOGUE, name
    assert get_spec("exec").admin_only
    assert not get_spec("get_all_settings").admin_only


def test_unknown_command() -> None:
    with pytest.raises(CommandError) as err:
        validate_params("format_c_drive", {})
    assert err.value.code is ErrorCode.UNKNOWN_COMMAND
    assert "Unknown command: format_c_drive" in err.value.message


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("exec", {}),
        ("exec", {"cmd": "ls", "argv": ["ls"]}),
        ("exec", {"cmd": "ls", "timeout_s": -1}),
        ("exec", {"cmd": "ls", "timeout_s": "soon"}),
        ("exec", {"cmd": "ls", "output_limit": 10**9}),
        ("exec", {"cmd": "ls", "bogus": 1}),
        ("get_setting", {}),
        ("get_setting", {"key": "a/b"}),
        ("set_setting", {"key": "k", "value": {"nested": 1}}),
        ("update_settings_batch", {"settings": {}}),
        ("update_settings_batch", {"settings": []}),
        ("get_all_settings", {"unexpected": True}),
        ("ping", [1, 2]),
    ],
)
def test_invalid_params(name: str, params: object) -> None:
    with pytest.raises(CommandError) as err:
        validate_params(name, params)
    assert err.value.code is ErrorCode.INVALID_PARAMS
    assert name in err.value.message


def test_valid_params_are_normalised() -> None:
    p = validate_params("exec", {"argv": ["echo", "hi"], "timeout_s": 2})
    assert isinstance(p, ExecParams) and p.argv == ["echo", "hi"] and p.output_limit == 64 * 1024
    s = validate_params("set_setting", {"key": "show_clock", "value": True})
    assert s.model_dump() == {"key": "show_clock", "value": "true"}
    b = validate_params("update_settings_batch", {"settings": {"font_size": 14, "theme_mode": "dark"}})
    assert b.model_dump() == {"settings": {"font_size": "14", "theme_mode": "dark"}}
    assert validate_params("get_all_settings", None).model_dump() == {}
