"""HTTP API: one Router (a Chalice blueprint) per area, each route declared once (``routes.py``). Views only get
the parsed body and the checked caller, call a service and answer; errors map to the JSON envelope (``http.py``).
"""

from chalice.app import Blueprint

from chalicelib.api import (
    agent_metrics,
    agent_settings,
    agents,
    alert_channels,
    alert_rules,
    alerts,
    audit,
    auth,
    cctv,
    classtop_clients,
    commands,
    health,
    lms_config,
    logs,
    overview,
    sites,
    stats,
    tokens,
    upgrades,
    users,
)
from chalicelib.api.routes import Route, Router

#: the areas of the API, in the order the documentation lists them
ROUTERS: tuple[Router, ...] = (health.api, auth.api, overview.api, classtop_clients.api, sites.api, agents.api,
                               agent_metrics.api, agent_settings.api, commands.api, cctv.api, stats.api, audit.api,
                               tokens.api, logs.api, lms_config.api, upgrades.api, users.api, alerts.api,
                               alert_rules.api, alert_channels.api)
BLUEPRINTS: tuple[Blueprint, ...] = tuple(router.blueprint for router in ROUTERS)
#: every route of the API, as declared: access, scope, summary, body, queries, answers, audit action
ROUTES: tuple[Route, ...] = tuple(route for router in ROUTERS for route in router.routes)

__all__ = ["BLUEPRINTS", "ROUTERS", "ROUTES"]
