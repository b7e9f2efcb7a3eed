"""The agent registry: ``GET /api/agents`` (``?site_id=&limit=&cursor=``) and ``GET /api/agents/{id}``."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import authenticate, endpoint, ok, query_int, query_str
from chalicelib.domain.agent import Agent

bp = Blueprint(__name__)


@bp.route("/api/agents", methods=["GET"])
@endpoint
def list_agents() -> Response:
    request = bp.current_request
    principal = authenticate(request)
    page = container.get().agents.page(
        principal,
        site_id=query_str(request, "site_id"),
        limit=query_int(request, "limit", 100),
        cursor=query_str(request, "cursor"),
    )
    return ok(page.to_dict("agents", Agent.to_dict))


@bp.route("/api/agents/{agent_id}", methods=["GET"])
@endpoint
def get_agent(agent_id: str) -> Response:
    principal = authenticate(bp.current_request)
    return ok(container.get().agents.get(agent_id, principal).to_dict())
