"""Commands: create (``POST /api/commands``, the seed's ``POST /api/control/command``) and read.

``POST /api/commands?wait=N`` (N <= 20 s) answers 200 with the finished record when every agent is done
within N seconds, else 202 with the record as it stands (poll ``GET /api/commands/{id}``).
"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import audited, authenticate, endpoint, ok, parse_body, query_float, query_int, query_str
from chalicelib.api.schemas import ControlCommandBody, CreateCommandBody
from chalicelib.domain.token import Role
from chalicelib.repositories.agent import AgentFilter
from chalicelib.services.commands import MAX_WAIT_S, CommandRequest

bp = Blueprint(__name__)


@bp.route("/api/commands", methods=["POST"])
@audited(bp, "command.create")
@endpoint
def create_command() -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    body = parse_body(request, CreateCommandBody)
    wait_s = query_float(request, "wait", 0.0, low=0.0, high=MAX_WAIT_S)
    services = container.get()
    commands = services.commands
    targets = body.targets
    if body.is_batch_selector:
        principal.require(Role.OPERATOR, "send commands")
        targets = tuple(services.agents.select(AgentFilter(site_id=body.site_id, group=body.group, tag=body.tag),
                                               principal, services.settings.max_targets))
    record = commands.create(
        CommandRequest(command=body.command, params=body.params, agent_ids=targets, timeout_s=body.timeout_s),
        principal,
    )
    if wait_s > 0:
        record = commands.wait(record, wait_s)
        if record.status.terminal:
            return ok(record.to_dict(), 200)
    return ok(record.to_dict(), 202)


@bp.route("/api/control/command", methods=["POST"])
@audited(bp, "command.create")
@endpoint
def control_command() -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.OPERATOR)
    body = parse_body(request, ControlCommandBody)
    record = container.get().commands.create(
        CommandRequest(
            command=body.command,
            params=body.params,
            agent_ids=(body.target,),
            timeout_s=body.timeout_s,
            command_id=body.request_id,
        ),
        principal,
    )
    return ok(record.to_dict(), 202, message="Command sent")


@bp.route("/api/commands/{command_id}", methods=["GET"])
@endpoint
def get_command(command_id: str) -> Response:
    principal = authenticate(bp.current_request)
    return ok(container.get().commands.get(command_id, principal).to_dict())


@bp.route("/api/agents/{agent_id}/commands", methods=["GET"])
@endpoint
def agent_commands(agent_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request)
    page = container.get().history.of_agent(agent_id, principal, limit=query_int(request, "limit", 50),
                                            cursor=query_str(request, "cursor"))
    return ok(page.to_dict("commands", lambda entry: entry))
