"""Request bodies of the API (pydantic, strict types, unknown fields rejected)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.token import MAX_TOKEN_TTL_S, MIN_TOKEN_TTL_S
from shared.messages import Strict
from shared.messages.command import MAX_TIMEOUT_S, REQUEST_ID_PATTERN
from shared.topics import ID_PATTERN

MAX_AGENTS_PER_REQUEST = 5000
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_TAGS = 20
#: most sites one API token may be scoped to
MAX_TOKEN_SITES = 100


class _Body(Strict):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateCommandBody(_Body):
    """``POST /api/commands``: the targets are exactly one of ``agent_id``, ``agent_ids`` (a list), or a batch
    selector — ``site_id``, ``group`` or ``tag`` (every approved agent it selects that the caller may see)."""

    agent_id: str | None = Field(default=None, min_length=1, max_length=64)
    agent_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_AGENTS_PER_REQUEST)
    site_id: str | None = Field(default=None, pattern=ID_PATTERN)
    group: str | None = Field(default=None, pattern=LABEL_PATTERN)
    tag: str | None = Field(default=None, pattern=LABEL_PATTERN)
    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)

    @field_validator("params", mode="before")
    @classmethod
    def _null_params(cls, v: Any) -> Any:
        return {} if v is None else v

    @model_validator(mode="after")
    def _one_target_field(self) -> Self:
        given = [v for v in (self.agent_id, self.agent_ids, self.site_id, self.group, self.tag) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'agent_id', 'agent_ids', 'site_id', 'group' or 'tag'")
        return self

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.agent_id,) if self.agent_id is not None else tuple(self.agent_ids or ())

    @property
    def is_batch_selector(self) -> bool:
        return self.site_id is not None or self.group is not None or self.tag is not None


class ControlCommandBody(_Body):
    """``POST /api/control/command``, the seed's shape: ``target_client`` (or ``client_uuid`` /
    ``agent_id``), an optional ``request_id`` (used as the command id), ``command``, ``params``."""

    target_client: str | None = Field(default=None, min_length=1, max_length=64)
    client_uuid: str | None = Field(default=None, min_length=1, max_length=64)
    agent_id: str | None = Field(default=None, min_length=1, max_length=64)
    request_id: str | None = Field(default=None, pattern=REQUEST_ID_PATTERN)
    command: str = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)

    @field_validator("params", mode="before")
    @classmethod
    def _null_params(cls, v: Any) -> Any:
        return {} if v is None else v

    @model_validator(mode="after")
    def _one_target_field(self) -> Self:
        given = [v for v in (self.target_client, self.client_uuid, self.agent_id) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'target_client', 'client_uuid' or 'agent_id'")
        return self

    @property
    def target(self) -> str:
        return next(v for v in (self.target_client, self.client_uuid, self.agent_id) if v is not None)



class AgentTagsBody(_Body):
    """``PUT /api/agents/{id}/tags``: the agent's whole tag set."""

    tags: list[Annotated[str, Field(pattern=LABEL_PATTERN)]] = Field(max_length=MAX_TAGS)

    @field_validator("tags")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("tags must not repeat")
        return v


class AgentGroupBody(_Body):
    """``PUT /api/agents/{id}/group``: the agent's group, or ``null`` for none."""

    group: str | None = Field(pattern=LABEL_PATTERN)


class CreateTokenBody(_Body):
    """``POST /api/tokens``: a token for a person or a script. ``site_ids`` limits it to those sites (absent or
    ``null``: every site); ``ttl_s`` is its lifetime (default 90 days, at most 365)."""

    name: str = Field(min_length=1, max_length=128)
    role: Literal["viewer", "operator", "admin"]
    site_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(default=None, min_length=1,
                                                                            max_length=MAX_TOKEN_SITES)
    ttl_s: int | None = Field(default=None, ge=MIN_TOKEN_TTL_S, le=MAX_TOKEN_TTL_S)
