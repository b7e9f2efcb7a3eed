"""``GET /api/health`` (no authentication), the seed's shape."""

from __future__ import annotations

import time

from chalice.app import Response

from chalicelib import __version__
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope

api = Router(__name__, tag="health")


@api.route("GET", "/api/health", Access.PUBLIC, Scope.NONE, "Liveness, version and time (ClassTop and seed shape)")
def health(call: Call[None]) -> Response:
    return ok({"status": "ok", "version": __version__, "timestamp": time.time()})
