"""HTTP API: one Blueprint per area. Views only parse, authorize, call a service and map errors."""

from chalice.app import Blueprint

from chalicelib.api.agents import bp as agents
from chalicelib.api.commands import bp as commands
from chalicelib.api.health import bp as health
from chalicelib.api.sites import bp as sites

BLUEPRINTS: tuple[Blueprint, ...] = (health, commands, agents, sites)

__all__ = ["BLUEPRINTS"]
