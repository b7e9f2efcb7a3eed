"""The LMS's local web API (seed 002 paths), as FastAPI routers; :func:`create_app` assembles them."""

from __future__ import annotations

from edge.lms.api.app import MAX_BODY_BYTES, create_app
from edge.lms.api.services import CloudStatus, Services

__all__ = ["MAX_BODY_BYTES", "CloudStatus", "Services", "create_app"]
