"""Plain domain objects (dataclasses) returned by the repositories and used by the services."""

from chalicelib.domain.agent import Agent
from chalicelib.domain.command import AgentOutcome, CommandRecord, aggregate_status
from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.domain.token import ApiToken, IssuedToken, Principal, Role

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
