"""The cloud plane's logic. No Chalice here: services take repositories and adapters, and raise
``chalicelib.errors``."""

from chalicelib.services.agent_settings import AgentSettingsService, SettingsView
from chalicelib.services.agents import AgentService, HeartbeatReport
from chalicelib.services.command_results import ResultsReport
from chalicelib.services.commands import CommandRequest, CommandService
from chalicelib.services.sites import SiteService
from chalicelib.services.tokens import TokenService

__all__ = [
    "AgentService",
    "AgentSettingsService",
    "CommandRequest",
    "CommandService",
    "HeartbeatReport",
    "ResultsReport",
    "SettingsView",
    "SiteService",
    "TokenService",
]
