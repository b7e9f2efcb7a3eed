"""``GET /api/audit?since=&until=&limit=&cursor=`` (admin): the audit log, newest first.

The log is tenant-wide (entries name paths, not sites): a token scoped to sites gets 403, whatever its role."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import authenticate, endpoint, ok, query_float, query_int, query_str
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.token import Role

bp = Blueprint(__name__)

_EPOCH_MAX = 4_102_444_800.0  # 2100-01-01


@bp.route("/api/audit", methods=["GET"])
@endpoint
def list_audit() -> Response:
    request = bp.current_request
    authenticate(request, Role.ADMIN, tenant_wide=True)
    since = query_float(request, "since", -1.0, low=0.0, high=_EPOCH_MAX)
    until = query_float(request, "until", -1.0, low=0.0, high=_EPOCH_MAX)
    page = container.get().audit.page(
        since=None if since < 0 else since,
        until=None if until < 0 else until,
        limit=query_int(request, "limit", 100),
        cursor=query_str(request, "cursor"),
    )
    return ok(page.to_dict("entries", AuditEntry.to_dict))
