"""HTTP API: one Blueprint per area. Views only parse, authorize, call a service and map errors."""

from chalice.app import Blueprint

from chalicelib.api.agent_settings import bp as agent_settings
from chalicelib.api.agents import bp as agents
from chalicelib.api.audit import bp as audit
from chalicelib.api.cctv import bp as cctv
from chalicelib.api.classtop_clients import bp as classtop
from chalicelib.api.commands import bp as commands
from chalicelib.api.health import bp as health
from chalicelib.api.sites import bp as sites
from chalicelib.api.snapshots import bp as snapshots
from chalicelib.api.stats import bp as stats
from chalicelib.api.tokens import bp as tokens

BLUEPRINTS: tuple[Blueprint, ...] = (health, commands, agents, sites, classtop, audit, cctv, stats, snapshots,
                                     agent_settings, tokens)

__all__ = ["BLUEPRINTS"]
