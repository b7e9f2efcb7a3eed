"""ClassTop desktop clients that sync with the cloud directly: the five sync endpoints of the ClassTop wire contract
(docs/classtop.md) — no credentials; the tenant's client policy admits callers; ``/api/sync`` is rate-limited and
audited by the service (per client and per source address) — and their administration (list, detail, approve,
reject). ``GET /api/health`` is in ``health.py``.

The request bodies are what the client sends, read as the LMS reads them (``shared/classtop_wire.py``: unknown
fields ignored, ``null`` read as empty); ``location`` is accepted (the client never sends it, but an older client
might) and not kept — downloads always return ``""``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Request, Response

from chalicelib import container
from chalicelib.api.http import act_as, ok, query_int, query_str
from chalicelib.api.params import CURSOR, Query, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient

if TYPE_CHECKING:
    from shared.classtop_wire import ClientRegistration, SyncCourse, SyncEntry, SyncUpload

api = Router(__name__, tag="classtop")


def _stored_course(course: SyncCourse) -> dict[str, Any]:
    return {"id": course.id, "name": course.name, "teacher": course.teacher, "color": course.color,
            "note": course.note}


def _stored_entry(entry: SyncEntry) -> dict[str, Any]:
    return {"id": entry.id, "course_id": entry.course_id, "day_of_week": entry.day_of_week,
            "start_time": entry.start_time, "end_time": entry.end_time, "weeks": entry.weeks}


def source_address(request: Request) -> str:
    """The caller's address as API Gateway saw it (not ``X-Forwarded-For``, which the caller writes)."""
    identity = request.context.get("identity") or {}
    address = identity.get("sourceIp") if isinstance(identity, dict) else None
    return str(address)[:64] if address else "unknown"


# ---------------------------------------------------------------- the ClassTop wire contract


@api.route("POST", "/api/clients/register", Access.PUBLIC, Scope.NONE, "Register a ClassTop client (idempotent)",
           body="ClientRegistration", audit="client.register",
           links=tuple(Link("200", method, path, {"client_uuid": "$request.body#/uuid"}) for method, path in (
               ("GET", "/api/clients/{client_uuid}"), ("GET", "/api/clients/{client_uuid}/courses"),
               ("POST", "/api/clients/{client_uuid}/approve"))))
def register_client(call: Call[ClientRegistration]) -> Response:
    act_as(f"client:{call.body.uuid}")
    client, created = container.get().classtop_clients.register(call.body.uuid, call.body.name, call.body.api_url)
    return ok({**client.to_dict(), "created": created}, message="Client registered")


@api.route("POST", "/api/sync", Access.PUBLIC, Scope.NONE,
           "Upload a ClassTop client's full snapshot (ids unique within each list: a repeated one is a 400)",
           body="SyncUpload", links=tuple(Link("200", "GET", path, {"client_uuid": "$request.body#/client_uuid"})
                                        for path in ("/api/clients/{client_uuid}/courses",
                                                     "/api/clients/{client_uuid}/schedule")),
           responses={"429": "over the rate limit of changing uploads (per client uuid, per source address): "
                             "nothing written"})
def sync(call: Call[SyncUpload]) -> Response:
    counts = container.get().classtop_clients.sync(
        call.body.client_uuid,
        [_stored_course(c) for c in call.body.courses],
        [_stored_entry(e) for e in call.body.schedule_entries],
        source_address(call.request),
    )
    return ok({"synced_courses": counts.synced_courses, "synced_entries": counts.synced_entries},
              message="Sync completed")


@api.route("GET", "/api/clients/{client_uuid}/courses", Access.PUBLIC, Scope.NONE,
           "A client's courses (its own ids)")
def client_courses(call: Call[None], client_uuid: str) -> Response:
    return ok({"courses": container.get().classtop_clients.courses(client_uuid)})


@api.route("GET", "/api/clients/{client_uuid}/schedule", Access.PUBLIC, Scope.NONE,
           "A client's schedule (its own ids)")
def client_schedule(call: Call[None], client_uuid: str) -> Response:
    return ok({"schedule_entries": container.get().classtop_clients.schedule(client_uuid)})


# ---------------------------------------------------------------- administration (tenant-wide: they belong to no site)


@api.route("GET", "/api/clients", Access.VIEWER, Scope.TENANT, "List ClassTop clients (?status=pending)",
           query=(Query("status", "pending: only clients awaiting approval", enum=(Approval.PENDING.value,)),
                  limit(100), CURSOR))
def list_clients(call: Call[None]) -> Response:
    status = query_str(call.request, "status")
    page = container.get().classtop_clients.page(pending_only=status is not None,
                                                 limit=query_int(call.request, "limit", 100),
                                                 cursor=query_str(call.request, "cursor"))
    return ok(page.to_dict("clients", ClassTopClient.to_dict))


@api.route("GET", "/api/clients/{client_uuid}", Access.VIEWER, Scope.TENANT, "One ClassTop client")
def get_client(call: Call[None], client_uuid: str) -> Response:
    return ok(container.get().classtop_clients.get(client_uuid).to_dict())


@api.route("POST", "/api/clients/{client_uuid}/approve", Access.ADMIN, Scope.TENANT, "Approve a pending client",
           audit="client.approve")
def approve_client(call: Call[None], client_uuid: str) -> Response:
    return ok(container.get().classtop_clients.decide(client_uuid, Approval.APPROVED).to_dict())


@api.route("POST", "/api/clients/{client_uuid}/reject", Access.ADMIN, Scope.TENANT, "Reject a client",
           audit="client.reject")
def reject_client(call: Call[None], client_uuid: str) -> Response:
    return ok(container.get().classtop_clients.decide(client_uuid, Approval.REJECTED).to_dict())
