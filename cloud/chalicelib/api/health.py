"""``GET /api/health`` (no authentication), the seed's shape."""

from __future__ import annotations

import time

from chalice.app import Blueprint, Response

from chalicelib import __version__
from chalicelib.api.http import endpoint, ok

bp = Blueprint(__name__)


@bp.route("/api/health", methods=["GET"])
@endpoint
def health() -> Response:
    return ok({"status": "ok", "version": __version__, "timestamp": time.time()})
