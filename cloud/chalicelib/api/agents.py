"""The agent registry: list (``?site_id=&status=&group=&tag=&pending=&limit=&cursor=``), detail, tags, group,
approve/reject, move to another site (admin), and the agent's latest snapshots as its site sent them. Its settings
are in ``agent_settings.py``, its command history in ``commands.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Request, Response

from chalicelib import container
from chalicelib.api.http import ok, parse_body, query_int, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.agent import LABEL_PATTERN, AgentFilter
from chalicelib.domain.approval import Approval
from chalicelib.errors import BadRequest, CloudError
from chalicelib.repositories.change_mark import Area
from shared.messages import Presence
from shared.topics import ID_PATTERN

if TYPE_CHECKING:
    from chalicelib.api.bodies.agents import AgentGroupBody, AgentMoveBody, AgentTagsBody, RetireBody

api = Router(__name__, tag="agents")


@api.route("GET", "/api/agents", Access.VIEWER, Scope.LIST, "List agents (site, status, group, tag, pending filters)",
           query=(Query("site_id", "only this site's agents", pattern=ID_PATTERN),
                  Query("status", "only agents online or offline", enum=tuple(p.value for p in Presence)),
                  Query("group", "only this group's agents", pattern=LABEL_PATTERN),
                  Query("tag", "only agents with this tag", pattern=LABEL_PATTERN),
                  Query("pending", "true: only agents awaiting approval", enum=("true", "false")),
                  limit(100), CURSOR), etag=(Area.AGENTS,))
def list_agents(call: Call[None]) -> Response:
    request = call.request
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
    page = container.get().agents.page(call.principal, limit=query_int(request, "limit", 100),
                                       cursor=query_str(request, "cursor"), filters=filters)
    services = container.get()
    return ok({"agents": services.presence.describe(page.items), "cursor": page.cursor})


@api.route("GET", "/api/agents/{agent_id}", Access.VIEWER, Scope.SITE, "One agent")
def get_agent(call: Call[None], agent_id: str) -> Response:
    services = container.get()
    return ok(services.presence.describe([services.agents.get(agent_id, call.principal)])[0])


@api.route("PUT", "/api/agents/{agent_id}/tags", Access.OPERATOR, Scope.SITE, "Replace an agent's tags",
           body="AgentTagsBody", audit="agent.tags")
def put_tags(call: Call[AgentTagsBody], agent_id: str) -> Response:
    return ok(container.get().agents.set_tags(agent_id, call.body.tags, call.principal).to_dict())


@api.route("PUT", "/api/agents/{agent_id}/group", Access.OPERATOR, Scope.SITE, "Set or clear an agent's group",
           body="AgentGroupBody", audit="agent.group")
def put_group(call: Call[AgentGroupBody], agent_id: str) -> Response:
    return ok(container.get().agents.set_group(agent_id, call.body.group, call.principal).to_dict())


@api.route("POST", "/api/agents/{agent_id}/approve", Access.ADMIN, Scope.SITE, "Approve a pending agent",
           audit="agent.approve")
def approve_agent(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().agents.decide(agent_id, Approval.APPROVED, call.principal).to_dict())


@api.route("POST", "/api/agents/{agent_id}/reject", Access.ADMIN, Scope.SITE, "Reject an agent",
           audit="agent.reject")
def reject_agent(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().agents.decide(agent_id, Approval.REJECTED, call.principal).to_dict())


def _move_detail(request: Request) -> str:
    """The audit detail of a move: the site it names."""
    from chalicelib.api.bodies.agents import AgentMoveBody  # the move route's path only

    return f"site_id={parse_body(request, AgentMoveBody).site_id}"


@api.route("POST", "/api/agents/{agent_id}/move", Access.ADMIN, Scope.SITE,
           "Move an agent to another site (a heartbeat never moves an agent of another site)", body="AgentMoveBody",
           audit="agent.move", audit_detail=_move_detail)
def move_agent(call: Call[AgentMoveBody], agent_id: str) -> Response:
    """Move an agent to another site: a site's heartbeats never move an agent of another site."""
    return ok(container.get().agents.move(agent_id, call.body.site_id, call.principal).to_dict())


@api.route("GET", "/api/agents/{agent_id}/snapshots", Access.VIEWER, Scope.SITE,
           "An agent's latest snapshots (settings, classtop, cctv_config) as its site sent them")
def agent_snapshots(call: Call[None], agent_id: str) -> Response:
    return ok(container.get().snapshots.list(agent_id, call.principal))


def retire_detail(request: Request) -> str | None:
    """The audit detail of a retirement: its reason, if the body gives one (a bad body is refused anyway)."""
    from chalicelib.api.bodies.agents import RetireBody  # the retirement routes' path only

    raw = request.raw_body
    if not raw or not raw.strip():
        return None
    try:
        reason = parse_body(request, RetireBody).reason
    except CloudError:
        return None
    return None if reason is None else f"reason={reason}"


@api.route("POST", "/api/agents/{agent_id}/retire", Access.ADMIN, Scope.SITE,
           "Retire an agent: its settings and camera shadows and its record deleted (retire it on its LMS first: "
           "that revokes its broker credentials)", body="RetireBody", body_optional=True, audit="agent.retire",
           audit_detail=retire_detail)
def retire_agent(call: Call[RetireBody], agent_id: str) -> Response:
    return ok(container.get().retirement.retire_agent(agent_id, call.principal, call.body.reason).to_dict())
