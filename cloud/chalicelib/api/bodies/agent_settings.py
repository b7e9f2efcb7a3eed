"""The request bodies of the routes of ``chalicelib/api/agent_settings.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from shared.commands import MAX_SETTING_VALUE, SETTING_KEY_PATTERN
from shared.messages import Strict
from shared.messages.shadow import MAX_SHADOW_SETTINGS, settings_values


class AgentSettingsBody(Strict):
    """``PUT /api/agents/{agent_id}/settings``: desired values to merge (strings, numbers or booleans, stored as
    ClassTop strings); ``null`` removes the key from desired."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, str | None] = Field(
        min_length=1,
        max_length=MAX_SHADOW_SETTINGS,
        json_schema_extra={
            "propertyNames": {"pattern": SETTING_KEY_PATTERN},
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": MAX_SETTING_VALUE},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "null"},
                ]
            },
        },
        description="key -> value (string, number or boolean) or null to remove the key",
    )

    @field_validator("settings", mode="before")
    @classmethod
    def _values(cls, v: Any) -> dict[str, str | None]:
        return settings_values(v, allow_null=True)
