"""The LMS's local web API (the seeds' paths, docs/seeds.md#the-lmss-local-api, and ours), as FastAPI routers;
:func:`create_app` assembles them."""

from __future__ import annotations

from edge.lms.api.app import MAX_BODY_BYTES, create_app
from edge.lms.api.services import CloudStatus, Services

__all__ = ["MAX_BODY_BYTES", "CloudStatus", "Services", "create_app"]
