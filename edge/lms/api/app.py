"""Build the LMS's FastAPI application from injected services (no module-level state)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from edge.lms.api import clients, health, settings
from edge.lms.api.deps import Services
from edge.lms.api.errors import MAX_BODY_BYTES, BodyLimit, install_error_handlers

__all__ = ["MAX_BODY_BYTES", "build_fastapi", "create_app"]


def build_fastapi(services: Services) -> FastAPI:
    """The FastAPI app itself (routes, error handlers, services on ``app.state``)."""
    app = FastAPI(
        title="ClassTop LMS",
        version=services.version,
        description=f"Light Management Service of site {services.config.site_id} ({services.config.tenant})",
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(clients.router)
    app.include_router(settings.router)
    return app


def create_app(services: Services, *, max_body_bytes: int = MAX_BODY_BYTES) -> ASGIApp:
    """The ASGI app to serve: the FastAPI app behind the request-body limit."""
    return BodyLimit(build_fastapi(services), max_body_bytes)
