"""Messages between an LMS and the cloud (IoT Core topics ``ct/{tenant}/site/{site}/...``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from shared.errors import ErrorCode
from shared.messages.agent import Event
from shared.messages.base import JsonData, JsonObject, Message, Strict, require_unique
from shared.messages.checks import FULL_PERIOD_MAX_S, FULL_PERIOD_MIN_S, site_hops
from shared.messages.command import (
    COMMAND_NAME_PATTERN,
    DEFAULT_TIMEOUT_S,
    MAX_TIMEOUT_S,
    REQUEST_ID_PATTERN,
    SITE_HOPS,
    CommandHop,
    CommandStatus,
)
from shared.messages.enums import AgentKind, Presence
from shared.topics import ID_PATTERN

#: One cloud message per site carries a batch; the LMS fans it out.
MAX_TARGETS = 5000
AgentId = Annotated[str, Field(pattern=ID_PATTERN)]


class AgentPresence(Strict):
    agent_id: str = Field(pattern=ID_PATTERN)
    status: Presence
    kind: AgentKind = AgentKind.AGENT
    last_seen: float | None = Field(default=None, ge=0)
    hostname: str | None = Field(default=None, max_length=255)
    version: str | None = Field(default=None, max_length=64)
    #: the agent's configuration version (its ``Status.config_version``); absent from older LMSs
    config_version: str | None = Field(default=None, max_length=64)


class SiteHeartbeat(Message):
    """LMS -> cloud, every ``site_heartbeat_s`` (300 s) and on change. ``full`` lists every agent; otherwise only
    changed ones."""

    type: Literal["site_heartbeat"] = "site_heartbeat"
    timestamp: float = Field(ge=0)
    lms_version: str = Field(max_length=64)
    #: the LMS's configuration version (``cloud:<shadow version>`` or ``local:<hash>``); absent from older LMSs
    lms_config_version: str | None = Field(default=None, max_length=64)
    full: bool = True
    agents: list[AgentPresence] = Field(default_factory=list, max_length=MAX_TARGETS)
    #: the site's certificates within their warning period (site_ca, lms, broker, cloud); absent from older LMSs
    certificates_expiring: list[Annotated[str, Field(pattern=r"^[a-z_]{1,16}$")]] | None = Field(
        default=None, max_length=8
    )
    #: the LMS's full heartbeat period now (its ``site_heartbeat_s``), by which the cloud judges the site's silence;
    #: absent from older LMSs (judged as sending every 60 s)
    full_period_s: float | None = Field(default=None, ge=FULL_PERIOD_MIN_S, le=FULL_PERIOD_MAX_S)


class SiteCommand(Message):
    """Cloud -> LMS: one command for one or many agents of the site."""

    type: Literal["command"] = "command"
    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    command: str = Field(pattern=COMMAND_NAME_PATTERN)
    params: JsonObject = Field(default_factory=dict)
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    targets: list[AgentId] = Field(min_length=1, max_length=MAX_TARGETS)
    expires_at: float | None = Field(default=None, ge=0, description="drop if not delivered by then (epoch s)")

    @field_validator("targets")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        require_unique(v, "targets must not repeat an agent")
        return v


class AgentResult(Strict):
    """The outcome of a command on one agent, as the LMS reports it upward."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    agent_id: str = Field(pattern=ID_PATTERN)
    status: CommandStatus
    success: bool | None = None
    data: JsonData = None
    error: str | None = Field(default=None, max_length=4096)
    error_code: ErrorCode | None = None
    timestamp: float = Field(ge=0)
    #: when the site saw the hops it passed so far (epoch seconds, the LMS's clock; ``started`` the agent's)
    hops: dict[CommandHop, float] | None = Field(default=None, max_length=len(SITE_HOPS))

    @field_validator("hops")
    @classmethod
    def _site_hops(cls, v: dict[CommandHop, float] | None) -> dict[CommandHop, float] | None:
        return site_hops(v)


class CommandResults(Message):
    """LMS -> cloud: a batch of per-agent command status changes (in order)."""

    type: Literal["command_results"] = "command_results"
    results: list[AgentResult] = Field(min_length=1, max_length=500)


#: Events per ``SiteEvents`` message (the LMS splits larger batches).
MAX_EVENTS_PER_MESSAGE = 500


class AgentEvent(Strict):
    """One agent's :class:`Event`, as the LMS forwards it."""

    agent_id: str = Field(pattern=ID_PATTERN)
    event: Event


class SiteEvents(Message):
    """LMS -> cloud on ``ct/{tenant}/site/{site}/up/events``: a batch of its agents' events (CCTV, health,
    warnings and worse), in order."""

    type: Literal["site_events"] = "site_events"
    events: list[AgentEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_MESSAGE)
