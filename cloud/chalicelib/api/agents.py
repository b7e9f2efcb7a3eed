"""The agent registry: list (``?site_id=&status=&group=&tag=&pending=&limit=&cursor=``), detail, tags, group,
approve/reject, move to another site (admin)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import audited, authenticate, endpoint, ok, parse_body, query_int, query_str
from chalicelib.api.lms_schemas import AgentMoveBody
from chalicelib.api.schemas import AgentGroupBody, AgentTagsBody
from chalicelib.domain.agent import Agent
from chalicelib.domain.approval import Approval
from chalicelib.domain.token import Role
from chalicelib.errors import BadRequest
from chalicelib.repositories.agent import AgentFilter
from shared.messages import Presence
from shared.topics import is_valid_id

bp = Blueprint(__name__)


def _agent_id(agent_id: str) -> str:
    if not is_valid_id(agent_id):
        raise BadRequest(f"agent id: invalid {agent_id[:80]!r}")
    return agent_id


@bp.route("/api/agents", methods=["GET"])
@endpoint
def list_agents() -> Response:
    request = bp.current_request
    principal = authenticate(request)
    status = query_str(request, "status")
    if status is not None and status not in {p.value for p in Presence}:
        raise BadRequest(f"status: one of {', '.join(p.value for p in Presence)}")
    pending = query_str(request, "pending")
    if pending not in (None, "true", "false"):
        raise BadRequest("pending: 'true' or 'false'")
    filters = AgentFilter(
        site_id=query_str(request, "site_id"),
        status=None if status is None else Presence(status),
        group=query_str(request, "group"),
        tag=query_str(request, "tag"),
        pending=pending == "true",
    )
    page = container.get().agents.page(
        principal, limit=query_int(request, "limit", 100), cursor=query_str(request, "cursor"), filters=filters
    )
    return ok(page.to_dict("agents", Agent.to_dict))


@bp.route("/api/agents/{agent_id}", methods=["GET"])
@endpoint
def get_agent(agent_id: str) -> Response:
    principal = authenticate(bp.current_request)
    return ok(container.get().agents.get(_agent_id(agent_id), principal).to_dict())


@bp.route("/api/agents/{agent_id}/tags", methods=["PUT"])
@audited(bp, "agent.tags")
@endpoint
def put_tags(agent_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    body = parse_body(request, AgentTagsBody)
    return ok(container.get().agents.set_tags(_agent_id(agent_id), body.tags, principal).to_dict())


@bp.route("/api/agents/{agent_id}/group", methods=["PUT"])
@audited(bp, "agent.group")
@endpoint
def put_group(agent_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    body = parse_body(request, AgentGroupBody)
    return ok(container.get().agents.set_group(_agent_id(agent_id), body.group, principal).to_dict())


@bp.route("/api/agents/{agent_id}/approve", methods=["POST"])
@audited(bp, "agent.approve")
@endpoint
def approve_agent(agent_id: str) -> Response:
    principal = authenticate(bp.current_request, Role.ADMIN)
    return ok(container.get().agents.decide(_agent_id(agent_id), Approval.APPROVED, principal).to_dict())


@bp.route("/api/agents/{agent_id}/reject", methods=["POST"])
@audited(bp, "agent.reject")
@endpoint
def reject_agent(agent_id: str) -> Response:
    principal = authenticate(bp.current_request, Role.ADMIN)
    return ok(container.get().agents.decide(_agent_id(agent_id), Approval.REJECTED, principal).to_dict())


@bp.route("/api/agents/{agent_id}/move", methods=["POST"])
@audited(bp, "agent.move", detail=lambda request: f"site_id={parse_body(request, AgentMoveBody).site_id}")
@endpoint
def move_agent(agent_id: str) -> Response:
    """Move an agent to another site: a site's heartbeats never move an agent of another site."""
    request = bp.current_request
    principal = authenticate(request, Role.ADMIN)
    body = parse_body(request, AgentMoveBody)
    return ok(container.get().agents.move(_agent_id(agent_id), body.site_id, principal).to_dict())
