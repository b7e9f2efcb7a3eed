"""A site's LMS configuration set from the cloud (the ``lms:config`` shadow of the site's thing):
``GET /api/lms/{site_id}/config`` (desired, reported, pending, the LMS's status) and ``PUT
/api/lms/{site_id}/config`` with ``{"config": {key: value | null}, "version"?}`` (merged into desired; ``null``
removes a key and the LMS's own file decides it again); and ``GET /api/versions`` (sites and agents not on the
newest software version the cloud has seen)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Request, Response

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Router, Scope

if TYPE_CHECKING:
    from chalicelib.api.bodies.lms_config import LmsConfigBody

api = Router(__name__, tag="sites")


def _changed_keys(request: Request) -> str | None:
    """The audit detail of a configuration PUT: which keys it set or removed, and their values (none is secret)."""
    body = request.json_body
    config = body.get("config") if isinstance(body, dict) else None
    if not isinstance(config, dict) or not config:
        return None
    return "config=" + str({str(k): config[k] for k in sorted(config, key=str)})[:500]


@api.route("GET", "/api/lms/{site_id}/config", Access.OPERATOR, Scope.SITE,
           "A site's LMS configuration from the cloud: desired, reported, pending and the LMS's status")
def get_lms_config(call: Call[None], site_id: str) -> Response:
    return ok(container.get().lms_config.read(call.principal, site_id).to_dict())


@api.route("PUT", "/api/lms/{site_id}/config", Access.ADMIN, Scope.SITE,
           "Merge settings into a site's desired LMS configuration (null removes one); the LMS applies them live",
           body="LmsConfigBody", audit="lms.config", audit_detail=_changed_keys)
def put_lms_config(call: Call[LmsConfigBody], site_id: str) -> Response:
    body = call.body
    view = container.get().lms_config.set_desired(call.principal, site_id, body.config, body.version)
    return ok(view.to_dict())


@api.route("GET", "/api/versions", Access.VIEWER, Scope.LIST,
           "Sites and agents whose software version differs from the newest the cloud has seen")
def get_versions(call: Call[None]) -> Response:
    return ok(container.get().versions.outdated(call.principal).to_dict())
