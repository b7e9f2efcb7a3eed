"""The cloud plane's logic. No Chalice here: services take repositories and adapters, and raise
``chalicelib.errors``."""

from chalicelib.services.agents import AgentService, HeartbeatReport
from chalicelib.services.commands import CommandRequest, CommandService, ResultsReport
from chalicelib.services.sites import SiteService
from chalicelib.services.tokens import TokenService

__all__ = [
    "AgentService",
    "CommandRequest",
    "CommandService",
    "HeartbeatReport",
    "ResultsReport",
    "SiteService",
    "TokenService",
]
