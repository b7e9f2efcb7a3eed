"""Each agent's desired settings (its device shadow): ``GET /api/agents/{agent_id}/settings`` (desired, reported,
pending) and ``PUT /api/agents/{agent_id}/settings`` with ``{"settings": {key: value | null}}`` (merged into
desired; ``null`` removes a key)."""

from __future__ import annotations

from typing import Any

from chalice.app import Request, Response
from pydantic import ConfigDict, Field, field_validator

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope
from shared.commands import MAX_SETTING_VALUE, SETTING_KEY_PATTERN
from shared.messages import Strict
from shared.messages.shadow import MAX_SHADOW_SETTINGS, settings_values

api = Router(__name__, tag="agents")


class AgentSettingsBody(Strict):
    """``PUT /api/agents/{agent_id}/settings``: desired values to merge (strings, numbers or booleans, stored as
    ClassTop strings); ``null`` removes the key from desired."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, str | None] = Field(
        min_length=1, max_length=MAX_SHADOW_SETTINGS,
        json_schema_extra={"propertyNames": {"pattern": SETTING_KEY_PATTERN}, "additionalProperties": {"anyOf": [
            {"type": "string", "maxLength": MAX_SETTING_VALUE}, {"type": "number"}, {"type": "boolean"},
            {"type": "null"}]}},
        description="key -> value (string, number or boolean) or null to remove the key",
    )

    @field_validator("settings", mode="before")
    @classmethod
    def _values(cls, v: Any) -> dict[str, str | None]:
        return settings_values(v, allow_null=True)


def _changed_keys(request: Request) -> str | None:
    """The audit detail of a settings PUT: which keys it set or removed (not their values)."""
    body = request.json_body
    settings = body.get("settings") if isinstance(body, dict) else None
    if not isinstance(settings, dict) or not settings:
        return None
    return "keys=" + ",".join(sorted(str(k) for k in settings))


@api.route("GET", "/api/agents/{agent_id}/settings", Access.VIEWER, Scope.SITE,
           "An agent's settings shadow: desired, reported and pending (desired not yet reported)")
def get_settings(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().agent_settings.read(call.principal, agent_id).to_dict())


@api.route("PUT", "/api/agents/{agent_id}/settings", Access.OPERATOR, Scope.SITE,
           "Merge desired settings into the agent's shadow (null removes a key); the site's LMS applies them",
           body=AgentSettingsBody, audit="agent.settings", audit_detail=_changed_keys)
def put_settings(call: Call[AgentSettingsBody], agent_id: str) -> Response:
    return ok(container.get().agent_settings.set_desired(call.principal, agent_id, call.body.settings).to_dict())
