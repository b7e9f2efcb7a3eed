"""The five ClassTop sync endpoints (CLASSTOP-COMPAT.md §1) — no credentials; the tenant's client policy
admits callers; ``/api/sync`` is rate-limited and audited by the service (per client and per source address) —
and the admin side of ClassTop clients (list, detail, approve, reject).

``GET /api/health`` is in ``health.py``.
"""

from __future__ import annotations

from chalice.app import Blueprint, Request, Response

from chalicelib import container
from chalicelib.api.classtop_schemas import RegisterClientBody, SyncBody
from chalicelib.api.http import act_as, audited, authenticate, endpoint, ok, parse_body, query_int, query_str
from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.domain.token import Role
from chalicelib.errors import BadRequest
from shared.topics import is_valid_id

bp = Blueprint(__name__)


def _client_id(client_uuid: str) -> str:
    if not is_valid_id(client_uuid):
        raise BadRequest(f"client uuid: invalid {client_uuid[:80]!r}")
    return client_uuid


@bp.route("/api/clients/register", methods=["POST"])
@audited(bp, "client.register")
@endpoint
def register_client() -> Response:
    body = parse_body(bp.current_request, RegisterClientBody)
    act_as(f"client:{body.uuid}")
    client, created = container.get().classtop_clients.register(body.uuid, body.name, body.api_url)
    return ok({**client.to_dict(), "created": created}, message="Client registered")


def source_address(request: Request) -> str:
    """The caller's address as API Gateway saw it (not ``X-Forwarded-For``, which the caller writes)."""
    identity = request.context.get("identity") or {}
    address = identity.get("sourceIp") if isinstance(identity, dict) else None
    return str(address)[:64] if address else "unknown"


@bp.route("/api/sync", methods=["POST"])
@endpoint
def sync() -> Response:
    request = bp.current_request
    body = parse_body(request, SyncBody)
    counts = container.get().classtop_clients.sync(
        body.client_uuid,
        [c.to_stored() for c in body.courses],
        [e.to_stored() for e in body.schedule_entries],
        source_address(request),
    )
    return ok({"synced_courses": counts.synced_courses, "synced_entries": counts.synced_entries},
              message="Sync completed")


@bp.route("/api/clients/{client_uuid}/courses", methods=["GET"])
@endpoint
def client_courses(client_uuid: str) -> Response:
    return ok({"courses": container.get().classtop_clients.courses(_client_id(client_uuid))})


@bp.route("/api/clients/{client_uuid}/schedule", methods=["GET"])
@endpoint
def client_schedule(client_uuid: str) -> Response:
    return ok({"schedule_entries": container.get().classtop_clients.schedule(_client_id(client_uuid))})


# ---------------------------------------------------------------- administration


@bp.route("/api/clients", methods=["GET"])
@endpoint
def list_clients() -> Response:
    request = bp.current_request
    authenticate(request, Role.VIEWER, tenant_wide=True)  # cloud ClassTop clients belong to no site
    status = query_str(request, "status")
    if status not in (None, Approval.PENDING.value):
        raise BadRequest("status: only 'pending' can be filtered on")
    page = container.get().classtop_clients.page(
        pending_only=status is not None, limit=query_int(request, "limit", 100), cursor=query_str(request, "cursor")
    )
    return ok(page.to_dict("clients", ClassTopClient.to_dict))


@bp.route("/api/clients/{client_uuid}", methods=["GET"])
@endpoint
def get_client(client_uuid: str) -> Response:
    authenticate(bp.current_request, Role.VIEWER, tenant_wide=True)
    return ok(container.get().classtop_clients.get(_client_id(client_uuid)).to_dict())


@bp.route("/api/clients/{client_uuid}/approve", methods=["POST"])
@audited(bp, "client.approve")
@endpoint
def approve_client(client_uuid: str) -> Response:
    authenticate(bp.current_request, Role.ADMIN, tenant_wide=True)
    return ok(container.get().classtop_clients.decide(_client_id(client_uuid), Approval.APPROVED).to_dict())


@bp.route("/api/clients/{client_uuid}/reject", methods=["POST"])
@audited(bp, "client.reject")
@endpoint
def reject_client(client_uuid: str) -> Response:
    authenticate(bp.current_request, Role.ADMIN, tenant_wide=True)
    return ok(container.get().classtop_clients.decide(_client_id(client_uuid), Approval.REJECTED).to_dict())
