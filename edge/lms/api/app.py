"""Build the LMS's FastAPI application from injected services (no module-level state)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from edge.lms.api import (
    accounts,
    agents,
    alerts,
    batches,
    cctv,
    cctv_video,
    classtop_clients,
    classtop_sync,
    command_catalog,
    dead_letters,
    enrolment,
    groups,
    health,
    live,
    prometheus,
    retirement,
    rotation,
    sessions,
    settings,
    site_tls,
    tokens,
    upgrades,
)
from edge.lms.api import events as events_api
from edge.lms.api.enrolment import SiteCaInfo
from edge.lms.api.errors import MAX_BODY_BYTES, BodyLimit, install_error_handlers
from edge.lms.api.fastlane import CommandFastLane
from edge.lms.api.openapi import install_openapi
from edge.lms.api.services import Services
from edge.lms.api.web_pages import mount_web_pages
from edge.lms.enrolment import Enrolments
from edge.lms.events import AgentEvents

__all__ = ["MAX_BODY_BYTES", "build_fastapi", "create_app"]


def build_fastapi(
    services: Services,
    *,
    enrolments: Enrolments | None = None,
    events: AgentEvents | None = None,
    site_ca: SiteCaInfo | None = None,
) -> FastAPI:
    """The FastAPI app itself (routes, error handlers, services on ``app.state``)."""
    app = FastAPI(
        title="ClassTop LMS",
        version=services.version,
        description=f"Light Management Service of site {services.config.site_id} ({services.config.tenant})",
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(classtop_sync.router)  # before clients: /api/clients/register and /{uuid}/courses are open
    app.include_router(classtop_clients.router)
    app.include_router(agents.router)
    app.include_router(retirement.router)
    app.include_router(settings.router)
    app.include_router(command_catalog.router)  # before batches: /api/commands/catalog is not a batch id
    app.include_router(batches.router)
    app.include_router(groups.router)
    app.include_router(tokens.router)
    app.include_router(sessions.router)
    app.include_router(accounts.router)
    app.include_router(live.router)
    app.include_router(site_tls.router)
    app.include_router(rotation.router)
    app.include_router(dead_letters.router)
    app.include_router(cctv.router)
    cctv_video.install(app, services)
    events_api.install(app, services, events)
    app.include_router(prometheus.router)
    enrolment.install(app, enrolments, site_ca)
    upgrades.install(app, services)
    alerts.install(app, services)
    mount_web_pages(app)  # the site console at /, and the kit it shares with the district dashboard
    install_openapi(app)
    return app


def create_app(
    services: Services,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    enrolments: Enrolments | None = None,
    events: AgentEvents | None = None,
    site_ca: SiteCaInfo | None = None,
) -> ASGIApp:
    """The ASGI app to serve: the FastAPI app behind the command fast lane and the request-body limit."""
    api = build_fastapi(services, enrolments=enrolments, events=events, site_ca=site_ca)
    return BodyLimit(CommandFastLane(api, services, max_body_bytes), max_body_bytes)
