"""Sites (each one LMS): ``GET /api/lms`` (``?limit=&cursor=``) and ``GET /api/lms/{site_id}``. Read-only."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import authenticate, endpoint, ok, query_int, query_str
from chalicelib.domain.site import Site

bp = Blueprint(__name__)


@bp.route("/api/lms", methods=["GET"])
@endpoint
def list_sites() -> Response:
    request = bp.current_request
    principal = authenticate(request)
    page = container.get().sites.page(
        principal, limit=query_int(request, "limit", 100), cursor=query_str(request, "cursor")
    )
    return ok(page.to_dict("sites", Site.to_dict))


@bp.route("/api/lms/{site_id}", methods=["GET"])
@endpoint
def get_site(site_id: str) -> Response:
    principal = authenticate(bp.current_request)
    return ok(container.get().sites.get(site_id, principal).to_dict())
