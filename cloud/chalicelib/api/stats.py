"""Statistics: ``GET /api/stats?days=`` (the tenant, or a scoped token's sites) and
``GET /api/stats/sites/{site_id}?days=``."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_int
from chalicelib.api.params import Query
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.report_limits import MAX_DAYS

api = Router(__name__, tag="stats")

DAYS = Query("days", "the last this many days (default 7)", "integer", minimum=1, maximum=MAX_DAYS)


@api.route("GET", "/api/stats", Access.VIEWER, Scope.LIST, "Tenant statistics", query=(DAYS,))
def tenant_stats(call: Call[None]) -> Response:
    return ok(container.get().stats.tenant(call.principal, days=query_int(call.request, "days", 7)))


@api.route("GET", "/api/stats/sites/{site_id}", Access.VIEWER, Scope.SITE, "Site statistics", query=(DAYS,))
def site_stats(call: Call[None], site_id: str) -> Response:
    return ok(container.get().stats.site(site_id, call.principal, days=query_int(call.request, "days", 7)))
