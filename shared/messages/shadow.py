"""Agents' settings in device shadows: the documents the cloud, IoT Core (or the twin) and the LMS exchange.

Each agent's settings are the named shadow of its site's IoT thing named after the agent
(:func:`shared.topics.site_thing_name`, :func:`shared.topics.agent_shadow_name`). The district admin writes
``state.desired`` (cloud API); IoT Core publishes ``update/delta`` (the desired keys whose value differs from
``reported``); the site's LMS applies the delta to the agent (now, or when it comes back) and writes
``state.reported`` with the values the agent then holds. ``get`` returns the whole document (with its
``delta``) so an LMS can catch up after an outage.

These documents are AWS's format, not ours: the models below read only what we use and **ignore** the
fields AWS adds (``metadata``, ``timestamp``, ``clientToken``...) instead of forbidding them. The settings in
them are validated like every other setting: keys match :data:`shared.commands.SETTING_KEY_PATTERN`, values
are strings (numbers and booleans are turned into ClassTop's string form by
:func:`shared.commands.setting_value`). ``null`` in ``desired`` removes a key (AWS semantics).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.messages.checks import SETTING_KEY_PATTERN, setting_value

#: AWS IoT's limit for one shadow document's ``state`` (named shadows).
MAX_SHADOW_STATE_BYTES = 8 * 1024
#: At most this many settings in one desired update (the cloud API's bound).
MAX_SHADOW_SETTINGS = 200

_KEY_RE = re.compile(SETTING_KEY_PATTERN)


def settings_values(
    value: Any, *, allow_null: bool = False, max_items: int | None = MAX_SHADOW_SETTINGS
) -> dict[str, str | None]:
    """Validate a ``{key: value}`` object of settings (values as ClassTop strings; ``None`` kept if allowed).

    ``max_items`` bounds what one writer sends at once; documents read back (``None``) are not bounded by it."""
    if not isinstance(value, dict):
        raise ValueError("settings must be an object of key -> value")
    if max_items is not None and len(value) > max_items:
        raise ValueError(f"at most {max_items} settings at once")
    out: dict[str, str | None] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(f"invalid setting key {key!r}")
        if item is None:
            if not allow_null:
                raise ValueError(f"setting {key!r} has no value")
            out[key] = None
            continue
        out[key] = setting_value(item)
    return out


class _AwsDocument(BaseModel):
    """An AWS-owned document: unknown fields are ignored (AWS adds metadata we do not use)."""

    model_config = ConfigDict(extra="ignore")


class SettingsState(_AwsDocument):
    desired: dict[str, str] | None = None
    reported: dict[str, str] | None = None
    delta: dict[str, str] | None = None

    @field_validator("desired", "reported", "delta", mode="before")
    @classmethod
    def _settings(cls, v: Any) -> dict[str, str] | None:
        if v is None:
            return None
        return {k: val for k, val in settings_values(v, allow_null=True, max_items=None).items() if val is not None}


class SettingsShadow(_AwsDocument):
    """A whole shadow document: ``get/accepted``, ``update/accepted``, the cloud's read."""

    state: SettingsState = Field(default_factory=SettingsState)
    version: int | None = None


class ShadowRejection(_AwsDocument):
    """``update/rejected`` or ``get/rejected``: AWS's error document (``code`` is an HTTP status)."""

    code: int
    message: str = ""

    @property
    def transient(self) -> bool:
        """Throttled or an AWS-side failure: worth trying again later (400/404/409/413 are not)."""
        return self.code == 429 or self.code >= 500


class SettingsDelta(_AwsDocument):
    """``update/delta``: ``state`` is the desired keys that differ from ``reported``."""

    state: dict[str, str]
    version: int

    @field_validator("state", mode="before")
    @classmethod
    def _settings(cls, v: Any) -> dict[str, str]:
        return {k: val for k, val in settings_values(v, allow_null=True, max_items=None).items() if val is not None}


def desired_update(settings: dict[str, str | None], client_token: str | None = None, *,
                   version: int | None = None) -> bytes:
    """The ``update`` request of the cloud: these desired values (``None`` removes a key). With ``version`` AWS
    applies it only if the shadow is still at that version (else 409): no lost update between read and write."""
    return _update({"desired": settings_values(settings, allow_null=True)}, client_token, version)


def reported_update(settings: dict[str, str | None], client_token: str | None = None) -> bytes:
    """The ``update`` request of the LMS: the values the agent now holds (``None``: the agent has no such key)."""
    return _update({"reported": settings_values(settings, allow_null=True)}, client_token)


def _update(state: dict[str, Any], client_token: str | None, version: int | None = None) -> bytes:
    doc: dict[str, Any] = {"state": state}
    if client_token is not None:
        doc["clientToken"] = client_token
    if version is not None:
        doc["version"] = version
    payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if len(payload) > MAX_SHADOW_STATE_BYTES:
        raise ValueError(f"shadow update of {len(payload)} bytes exceeds the {MAX_SHADOW_STATE_BYTES}-byte limit")
    return payload
