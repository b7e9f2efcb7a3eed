"""Commands: create (``POST /api/commands``, the seed's ``POST /api/control/command``), read, and an agent's history.

``POST /api/commands?wait=N`` (N <= 20 s) answers 200 with the finished record when every agent is done
within N seconds, else 202 with the record as it stands (poll ``GET /api/commands/{id}``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from chalice.app import Response
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from chalicelib import container
from chalicelib.api.http import RequestBody, ok, query_float, query_int, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.agent import LABEL_PATTERN, AgentFilter
from chalicelib.domain.command import CLOUD_ONLY_PARAMS, MAX_WAIT_S, CommandRequest
from chalicelib.repositories.change_mark import Area
from shared.commands import CATALOGUE
from shared.messages.command import MAX_TIMEOUT_S, REQUEST_ID_PATTERN
from shared.topics import ID_PATTERN

MAX_AGENTS_PER_REQUEST = 5000

api = Router(__name__, tag="commands")


def _command_schema(fields: tuple[str, ...]) -> dict[str, Any]:
    """What the validators check, as JSON schema: exactly one of the target fields (non-null), and a command the
    API accepts (not the LMS's own or the shadow's) with its params (``shared.commands``)."""
    targets = [{"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in fields]
    commands = []
    for spec in sorted(CATALOGUE.values(), key=lambda s: s.name):
        if spec.lms_only or spec.shadow_only:
            continue
        params = spec.params.model_json_schema(ref_template="#/components/schemas/{model}")
        for name in CLOUD_ONLY_PARAMS.get(spec.name, ()):
            params.get("properties", {}).pop(name, None)
        branch: dict[str, Any] = {"properties": {"command": {"const": spec.name}, "params": params}}
        if _needs_params(spec.params):  # exec: no field is required, but one of cmd and argv is
            branch["required"] = ["params"]
        else:
            branch["properties"]["params"] = {"anyOf": [params, {"type": "null"}]}
        commands.append(branch)
    return {"allOf": [{"oneOf": targets}, {"oneOf": commands}]}


def _needs_params(model: type[BaseModel]) -> bool:
    """Whether a command's params must be given (absent or ``null`` params are ``{}``, which ``model`` refuses)."""
    try:
        model.model_validate({})
    except ValidationError:
        return True
    return False


class _CommandBody(RequestBody):
    """What both command bodies share: ``params`` may be ``null``, and exactly one of the fields
    ``TARGET_FIELDS`` names the targets."""

    #: the fields that may name the targets, in the order the error message lists them
    TARGET_FIELDS: ClassVar[tuple[str, ...]]

    @classmethod
    def openapi_extra(cls) -> dict[str, Any]:
        return _command_schema(cls.TARGET_FIELDS)

    @field_validator("params", mode="before", check_fields=False)
    @classmethod
    def _null_params(cls, v: Any) -> Any:
        return {} if v is None else v

    @model_validator(mode="after")
    def _one_target_field(self) -> Self:
        names = self.TARGET_FIELDS
        if sum(getattr(self, name) is not None for name in names) != 1:
            raise ValueError(f"give exactly one of {', '.join(repr(n) for n in names[:-1])} or {names[-1]!r}")
        return self


class CreateCommandBody(_CommandBody):
    """``POST /api/commands``: the targets are exactly one of ``agent_id``, ``agent_ids`` (a list), or a batch
    selector — ``site_id``, ``group`` or ``tag`` (every approved agent it selects that the caller may see)."""

    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    agent_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(default=None, min_length=1,
                                                                            max_length=MAX_AGENTS_PER_REQUEST)
    site_id: str | None = Field(default=None, pattern=ID_PATTERN)
    group: str | None = Field(default=None, pattern=LABEL_PATTERN)
    tag: str | None = Field(default=None, pattern=LABEL_PATTERN)
    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)

    TARGET_FIELDS = ("agent_id", "agent_ids", "site_id", "group", "tag")

    @property
    def selector(self) -> AgentFilter | None:
        """The batch selector, if the targets are one."""
        if self.site_id is None and self.group is None and self.tag is None:
            return None
        return AgentFilter(site_id=self.site_id, group=self.group, tag=self.tag)

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.agent_id,) if self.agent_id is not None else tuple(self.agent_ids or ())


class ControlCommandBody(_CommandBody):
    """``POST /api/control/command``, the seed's shape: ``target_client`` (or ``client_uuid`` /
    ``agent_id``: the wire's names of the agent), an optional ``request_id`` (used as the command id), ``command``,
    ``params``."""

    target_client: str | None = Field(default=None, pattern=ID_PATTERN)
    client_uuid: str | None = Field(default=None, pattern=ID_PATTERN)
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    request_id: str | None = Field(default=None, pattern=REQUEST_ID_PATTERN)
    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)

    TARGET_FIELDS = ("target_client", "client_uuid", "agent_id")

    @property
    def target(self) -> str:
        """The agent id, whichever wire name carried it."""
        return next(v for v in (self.target_client, self.client_uuid, self.agent_id) if v is not None)


@api.route("POST", "/api/commands", Access.OPERATOR, Scope.SITE, "Send a command to agents (exec: admin only)",
           body=CreateCommandBody,
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
           body=ControlCommandBody, responses={"202": "stored and published"}, audit="command.create")
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
