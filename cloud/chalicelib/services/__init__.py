"""The cloud plane's logic. No Chalice here: services take repositories and adapters, and raise
``chalicelib.errors``.

The names below load on first use (``chalicelib/lazy.py``): a function imports the services its path calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.lazy import exports

if TYPE_CHECKING:
    from chalicelib.services.agent_settings import AgentSettingsService, SettingsView
    from chalicelib.services.agents import AgentService
    from chalicelib.services.command_results import ResultsReport
    from chalicelib.services.commands import CommandRequest, CommandService
    from chalicelib.services.heartbeat_marks import HeartbeatReport
    from chalicelib.services.sites import SiteService
    from chalicelib.services.tokens import TokenService

__getattr__ = exports(__name__, {
    "AgentService": "agents",
    "AgentSettingsService": "agent_settings",
    "CommandRequest": "commands",
    "CommandService": "commands",
    "HeartbeatReport": "heartbeat_marks",
    "ResultsReport": "command_results",
    "SettingsView": "agent_settings",
    "SiteService": "sites",
    "TokenService": "tokens",
})

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
