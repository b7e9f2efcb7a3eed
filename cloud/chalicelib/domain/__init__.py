"""Plain domain objects (dataclasses) returned by the repositories and used by the services.

The names below load on first use (``chalicelib/lazy.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import exports

if TYPE_CHECKING:
    from chalicelib.domain.agent import Agent
    from chalicelib.domain.command import AgentOutcome, CommandRecord, aggregate_status
    from chalicelib.domain.page import Page
    from chalicelib.domain.site import Site
    from chalicelib.domain.token import ApiToken, IssuedToken, Principal, Role

__getattr__ = exports(__name__, {
    "Agent": "agent",
    "AgentOutcome": "command",
    "ApiToken": "token",
    "CommandRecord": "command",
    "IssuedToken": "token",
    "Page": "page",
    "Principal": "token",
    "Role": "token",
    "Site": "site",
    "aggregate_status": "command",
})

__all__ = [
    "Agent",
    "AgentOutcome",
    "ApiToken",
    "CommandRecord",
    "IssuedToken",
    "Page",
    "Principal",
    "Role",
    "Site",
    "aggregate_status",
]
