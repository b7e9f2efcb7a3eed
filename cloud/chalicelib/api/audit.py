"""``GET /api/audit?since=&until=&limit=&cursor=`` (admin): the audit log, newest first.

The log is tenant-wide (entries name paths, not sites): a token scoped to sites gets 403, whatever its role."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_float, query_int, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.audit import AuditEntry

api = Router(__name__, tag="audit")

_EPOCH_MAX = 4_102_444_800.0  # 2100-01-01


@api.route("GET", "/api/audit", Access.ADMIN, Scope.TENANT, "Audit log (?since=&until=), newest first",
           query=(Query("since", "entries at or after (epoch seconds)", "number", minimum=0.0, maximum=_EPOCH_MAX),
                  Query("until", "entries before (epoch seconds)", "number", minimum=0.0, maximum=_EPOCH_MAX),
                  limit(100), CURSOR))
def list_audit(call: Call[None]) -> Response:
    request = call.request
    since = query_float(request, "since", -1.0, low=0.0, high=_EPOCH_MAX)
    until = query_float(request, "until", -1.0, low=0.0, high=_EPOCH_MAX)
    page = container.get().audit.page(
        since=None if since < 0 else since,
        until=None if until < 0 else until,
        limit=query_int(request, "limit", 100),
        cursor=query_str(request, "cursor"),
    )
    return ok(page.to_dict("entries", AuditEntry.to_dict))
