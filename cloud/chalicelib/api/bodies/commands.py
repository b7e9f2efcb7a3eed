"""The request bodies of the routes of ``chalicelib/api/commands.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.agent import LABEL_PATTERN, AgentFilter
from chalicelib.domain.command import CLOUD_ONLY_PARAMS
from shared.commands import CATALOGUE
from shared.messages.command import MAX_TIMEOUT_S, REQUEST_ID_PATTERN
from shared.topics import ID_PATTERN

MAX_AGENTS_PER_REQUEST = 5000


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
    agent_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(
        default=None, min_length=1, max_length=MAX_AGENTS_PER_REQUEST
    )
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
