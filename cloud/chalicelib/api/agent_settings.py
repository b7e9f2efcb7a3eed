"""Each agent's desired settings (its device shadow): ``GET /api/agents/{agent_id}/settings`` (desired, reported,
pending) and ``PUT /api/agents/{agent_id}/settings`` with ``{"settings": {key: value | null}}`` (merged into
desired; ``null`` removes a key)."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Request, Response
from pydantic import ConfigDict, Field, field_validator

from chalicelib import container
from chalicelib.api.http import audited, authenticate, endpoint, ok, parse_body
from chalicelib.domain.token import Role
from chalicelib.errors import BadRequest
from shared.commands import SETTING_KEY_PATTERN
from shared.messages import Strict
from shared.messages.shadow import MAX_SHADOW_SETTINGS, settings_values
from shared.topics import is_valid_id

bp = Blueprint(__name__)


class AgentSettingsBody(Strict):
    """``PUT /api/agents/{agent_id}/settings``: desired values to merge (strings, numbers or booleans, stored as
    ClassTop strings); ``null`` removes the key from desired."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[str, str | None] = Field(
        min_length=1, max_length=MAX_SHADOW_SETTINGS,
        json_schema_extra={"propertyNames": {"pattern": SETTING_KEY_PATTERN}},
        description="key -> value (string, number or boolean) or null to remove the key",
    )

    @field_validator("settings", mode="before")
    @classmethod
    def _values(cls, v: Any) -> dict[str, str | None]:
        return settings_values(v, allow_null=True)


def _agent_id(agent_id: str) -> str:
    if not is_valid_id(agent_id):
        raise BadRequest(f"agent id: invalid {agent_id[:80]!r}")
    return agent_id


@bp.route("/api/agents/{agent_id}/settings", methods=["GET"])
@endpoint
def get_settings(agent_id: str) -> Response:
    principal = authenticate(bp.current_request)
    return ok(container.get().agent_settings.read(principal, _agent_id(agent_id)).to_dict())


def _changed_keys(request: Request) -> str | None:
    """The audit detail of a settings PUT: which keys it set or removed (not their values)."""
    body = request.json_body
    settings = body.get("settings") if isinstance(body, dict) else None
    if not isinstance(settings, dict) or not settings:
        return None
    return "keys=" + ",".join(sorted(str(k) for k in settings))


@bp.route("/api/agents/{agent_id}/settings", methods=["PUT"])
@audited(bp, "agent.settings", detail=_changed_keys)
@endpoint
def put_settings(agent_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    body = parse_body(request, AgentSettingsBody)
    return ok(container.get().agent_settings.set_desired(principal, _agent_id(agent_id), body.settings).to_dict())
