"""The settings shadow documents (AWS's format, our settings rules)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.messages.shadow import (
    MAX_SHADOW_STATE_BYTES,
    SettingsDelta,
    SettingsShadow,
    desired_update,
    reported_update,
    settings_values,
)


def test_updates_carry_ClassTop_strings_and_nulls_remove() -> None:
    # numbers and booleans as a client may send them: made ClassTop's strings
    loose: dict[str, Any] = {"theme_mode": "dark", "font_size": 18, "sound": True, "old": None}
    doc = json.loads(desired_update(loose, "c1"))
    assert doc == {"state": {"desired": {"theme_mode": "dark", "font_size": "18", "sound": "true", "old": None}},
                   "clientToken": "c1"}  # fmt: skip
    assert json.loads(reported_update({"font_size": "18"})) == {"state": {"reported": {"font_size": "18"}}}


@pytest.mark.parametrize("bad", [{"bad key": "x"}, {"k": [1]}, {"k": {"a": 1}}, {"k": "x" * 9000}, ["k"]])
def test_bad_settings_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        settings_values(bad)


def test_too_big_an_update_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        desired_update({f"k{i}": "x" * 100 for i in range(100)})
    assert MAX_SHADOW_STATE_BYTES == 8192


def test_aws_documents_are_read_and_their_extra_fields_ignored() -> None:
    delta = SettingsDelta.model_validate_json(
        '{"version": 7, "timestamp": 1700000000, "state": {"font_size": 18, "gone": null},'
        ' "metadata": {"font_size": {"timestamp": 1700000000}}, "clientToken": "x"}'
    )
    assert delta.version == 7 and delta.state == {"font_size": "18"}
    shadow = SettingsShadow.model_validate(
        {"state": {"desired": {"a": "1"}, "reported": {"a": "0"}, "delta": {"a": "1"}}, "version": 3, "metadata": {}}
    )
    assert shadow.state.delta == {"a": "1"} and shadow.state.reported == {"a": "0"} and shadow.version == 3
    assert SettingsShadow.model_validate({}).state.desired is None
    with pytest.raises(ValidationError):
        SettingsDelta.model_validate({"version": 1, "state": {"bad key": "x"}})


def test_documents_read_back_are_not_bounded_by_the_writers_limit() -> None:
    many = {f"k{i}": "v" for i in range(300)}
    assert len(SettingsShadow.model_validate({"state": {"reported": many}}).state.reported or {}) == 300
    with pytest.raises(ValueError, match="at most"):
        settings_values(many)
