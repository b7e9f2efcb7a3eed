"""Commands: create (``POST /api/commands``, the seed's ``POST /api/control/command``), read, and an agent's history.

``POST /api/commands?wait=N`` (N <= 20 s) answers 200 with the finished record when every agent is done
within N seconds, else 202 with the record as it stands (poll ``GET /api/commands/{id}``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_float, query_int, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.command import MAX_WAIT_S, CommandRequest
from chalicelib.repositories.change_mark import Area

if TYPE_CHECKING:
    from chalicelib.api.bodies.commands import ControlCommandBody, CreateCommandBody

api = Router(__name__, tag="commands")


@api.route("POST", "/api/commands", Access.OPERATOR, Scope.SITE, "Send a command to agents (exec: admin only)",
           body="CreateCommandBody",
           query=(Query("wait", f"wait up to this many seconds (<= {MAX_WAIT_S:g}) for the results", "number",
                        minimum=0.0, maximum=MAX_WAIT_S),),
           responses={"202": "stored and published; poll GET /api/commands/{id}"}, audit="command.create",
           links=(Link("202", "GET", "/api/commands/{command_id}", {"command_id": "$response.body#/data/command_id"}),))
def create_command(call: Call[CreateCommandBody]) -> Response:
    body = call.body
    wait_s = query_float(call.request, "wait", 0.0, low=0.0, high=MAX_WAIT_S)
    commands = container.get().commands
    record = commands.create(
        CommandRequest(command=body.command, params=body.params, agent_ids=body.targets, timeout_s=body.timeout_s,
                       selector=body.selector),
        call.principal,
    )
    if wait_s > 0:
        record = commands.wait(record, wait_s)
        if record.status.terminal:
            return ok(record.to_dict(), 200)
    return ok(record.to_dict(), 202)


@api.route("POST", "/api/control/command", Access.OPERATOR, Scope.SITE, "Send a command (seed shape)",
           body="ControlCommandBody", responses={"202": "stored and published"}, audit="command.create")
def control_command(call: Call[ControlCommandBody]) -> Response:
    body = call.body
    record = container.get().commands.create(
        CommandRequest(command=body.command, params=body.params, agent_ids=(body.target,), timeout_s=body.timeout_s,
                       command_id=body.request_id),
        call.principal,
    )
    return ok(record.to_dict(), 202, message="Command sent")


@api.route("GET", "/api/commands/{command_id}", Access.VIEWER, Scope.SITE, "A command and its per-agent results",
           check_ids=False, etag=(Area.COMMANDS,))  # a command id has its own grammar: the service 404s the rest
def get_command(call: Call[None], command_id: str) -> Response:
    return ok(container.get().commands.get(command_id, call.principal).to_dict())


@api.route("GET", "/api/agents/{agent_id}/commands", Access.VIEWER, Scope.SITE,
           "An agent's command history, newest first", query=(limit(50), CURSOR), check_ids=False,
           etag=(Area.COMMANDS,))
def agent_commands(call: Call[None], agent_id: str) -> Response:
    page = container.get().history.of_agent(agent_id, call.principal, limit=query_int(call.request, "limit", 50),
                                            cursor=query_str(call.request, "cursor"))
    return ok(page.to_dict("commands", lambda entry: entry))
