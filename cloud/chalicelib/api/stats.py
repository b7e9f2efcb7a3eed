"""Statistics: ``GET /api/stats?days=`` (the tenant, or a scoped token's sites) and
``GET /api/stats/sites/{site_id}?days=``."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import authenticate, endpoint, ok, query_int
from chalicelib.errors import BadRequest
from shared.topics import is_valid_id

bp = Blueprint(__name__)


@bp.route("/api/stats", methods=["GET"])
@endpoint
def tenant_stats() -> Response:
    request = bp.current_request
    principal = authenticate(request)
    return ok(container.get().stats.tenant(principal, days=query_int(request, "days", 7)))


@bp.route("/api/stats/sites/{site_id}", methods=["GET"])
@endpoint
def site_stats(site_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request)
    if not is_valid_id(site_id):
        raise BadRequest(f"site id: invalid {site_id[:80]!r}")
    return ok(container.get().stats.site(site_id, principal, days=query_int(request, "days", 7)))
