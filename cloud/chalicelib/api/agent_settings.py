"""Each agent's desired settings (its device shadow): ``GET /api/agents/{agent_id}/settings`` (desired, reported,
pending) and ``PUT /api/agents/{agent_id}/settings`` with ``{"settings": {key: value | null}}`` (merged into
desired; ``null`` removes a key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Request, Response

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope

if TYPE_CHECKING:
    from chalicelib.api.bodies.agent_settings import AgentSettingsBody

api = Router(__name__, tag="agents")


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
           body="AgentSettingsBody", audit="agent.settings", audit_detail=_changed_keys)
def put_settings(call: Call[AgentSettingsBody], agent_id: str) -> Response:
    return ok(container.get().agent_settings.set_desired(call.principal, agent_id, call.body.settings).to_dict())
