"""Cloud -> LMS on ``site_down(ns, site, SiteDown.RETIRE)``: retire one of the site's agents (docs/operations.md,
"Site operations: retire an agent or a site"). The LMS does what its own ``POST /api/clients/{uuid}/retire`` does:
the agent's broker credentials revoked, its rows archived, its queued commands cancelled."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.messages.base import Message
from shared.topics import ID_PATTERN


class AgentRetire(Message):
    """``{"v": 1, "type": "agent_retire", "agent_id", "by", "reason"?, "timestamp"}``."""

    type: Literal["agent_retire"] = "agent_retire"
    agent_id: str = Field(pattern=ID_PATTERN, description="the agent to retire")
    by: str = Field(min_length=1, max_length=128, description="who retired it in the cloud (audited on the LMS)")
    reason: str | None = Field(default=None, max_length=200, description="why")
    timestamp: float = Field(ge=0, description="when the cloud retired it (epoch s)")
