"""Retirement messages between an LMS and the cloud (docs/operations.md, "Site operations: retire an agent or a
site"; docs/protocol.md).

* Cloud -> LMS on ``site_down(ns, site, SiteDown.RETIRE)``: :class:`AgentRetire`, retire one of the site's agents.
  The LMS does what its own ``POST /api/clients/{uuid}/retire`` does: the agent's broker credentials revoked, its
  rows archived, its queued commands cancelled. The cloud keeps the order until the LMS reports the agent retired
  (below) and sends it again after each full site heartbeat meanwhile, so an LMS offline then gets it later.
* LMS -> cloud on ``site_up(ns, site, SiteUp.RETIRED)``, through the outbox: :class:`AgentsRetired`, agents the site
  retired (by its API, its CLI or a cloud order); the cloud removes its records of them (shadows, item), and only
  of agents of that site.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from shared.messages.base import Message, Strict
from shared.messages.checks import unique_agents
from shared.topics import ID_PATTERN

#: agents in one AgentsRetired message
MAX_RETIRED_PER_MESSAGE = 500


class AgentRetire(Message):
    """``{"v": 1, "type": "agent_retire", "agent_id", "by", "reason"?, "timestamp"}``."""

    type: Literal["agent_retire"] = "agent_retire"
    agent_id: str = Field(pattern=ID_PATTERN, description="the agent to retire")
    by: str = Field(min_length=1, max_length=128, description="who retired it in the cloud (audited on the LMS)")
    reason: str | None = Field(default=None, max_length=200, description="why")
    timestamp: float = Field(ge=0, description="when the cloud retired it (epoch s)")


class RetiredAgentEntry(Strict):
    agent_id: str = Field(pattern=ID_PATTERN)
    retired_at: float = Field(ge=0, description="when the LMS retired it (epoch s)")
    by: str | None = Field(default=None, max_length=200, description="who retired it on the LMS")
    reason: str | None = Field(default=None, max_length=200)


class AgentsRetired(Message):
    """``{"v": 1, "type": "agents_retired", "agents": [{agent_id, retired_at, by?, reason?}]}``."""

    type: Literal["agents_retired"] = "agents_retired"
    agents: list[RetiredAgentEntry] = Field(min_length=1, max_length=MAX_RETIRED_PER_MESSAGE)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        unique_agents(self)
        return self
