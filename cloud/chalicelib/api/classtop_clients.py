"""ClassTop desktop clients that sync with the cloud directly: the five sync endpoints of the ClassTop wire contract
(docs/classtop.md) — no credentials; the tenant's client policy admits callers; ``/api/sync`` is rate-limited and
audited by the service (per client and per source address) — and their administration (list, detail, approve,
reject). ``GET /api/health`` is in ``health.py``.

The request bodies are exactly what the client sends. Unknown fields are rejected like everywhere else;
``location`` is accepted (the client never sends it, but an older client might) and ignored — downloads always
return ``""``.
"""

from __future__ import annotations

from typing import Any, Self

from chalice.app import Request, Response
from pydantic import Field, field_validator, model_validator

from chalicelib import container
from chalicelib.api.http import RequestBody, act_as, ok, query_int, query_str
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.errors import BadRequest
from shared.commands import TIME_PATTERN
from shared.topics import ID_PATTERN

MAX_COURSES = 2000
MAX_ENTRIES = 10000
MAX_WEEK = 60

api = Router(__name__, tag="classtop")


class RegisterClientBody(RequestBody):
    uuid: str = Field(pattern=ID_PATTERN)
    name: str = Field(default="", max_length=128)
    api_url: str = Field(default="", max_length=2048)

    @field_validator("name", "api_url", mode="before")
    @classmethod
    def _null_is_empty(cls, v: Any) -> Any:
        return "" if v is None else v


class SyncCourse(RequestBody):
    id: int = Field(ge=0, le=2**53)
    name: str = Field(max_length=256)
    teacher: str | None = Field(default="", max_length=256)
    location: str | None = Field(default=None, max_length=256)
    color: str | None = Field(default="", max_length=32)
    note: str | None = Field(default=None, max_length=4096)

    def to_stored(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "teacher": self.teacher or "", "color": self.color or "",
                "note": self.note}


class SyncEntry(RequestBody):
    id: int = Field(ge=0, le=2**53)
    course_id: int = Field(ge=0, le=2**53)
    day_of_week: int = Field(ge=1, le=7)
    start_time: str = Field(pattern=TIME_PATTERN)
    end_time: str = Field(pattern=TIME_PATTERN)
    weeks: list[int] | None = Field(default=None, max_length=MAX_WEEK)

    @field_validator("weeks")
    @classmethod
    def _weeks_in_range(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(not 1 <= w <= MAX_WEEK for w in v):
            raise ValueError(f"weeks must be between 1 and {MAX_WEEK}")
        return v

    def to_stored(self) -> dict[str, Any]:
        return {"id": self.id, "course_id": self.course_id, "day_of_week": self.day_of_week,
                "start_time": self.start_time, "end_time": self.end_time, "weeks": list(self.weeks or [])}


class SyncBody(RequestBody):
    client_uuid: str = Field(pattern=ID_PATTERN)
    courses: list[SyncCourse] = Field(default_factory=list, max_length=MAX_COURSES)
    schedule_entries: list[SyncEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)

    @field_validator("courses", "schedule_entries", mode="before")
    @classmethod
    def _null_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        for name, rows in (("courses", self.courses), ("schedule_entries", self.schedule_entries)):
            seen: set[int] = set()
            for row in rows:
                if row.id in seen:
                    raise ValueError(f"{name}: duplicate id {row.id}")
                seen.add(row.id)
        return self


def source_address(request: Request) -> str:
    """The caller's address as API Gateway saw it (not ``X-Forwarded-For``, which the caller writes)."""
    identity = request.context.get("identity") or {}
    address = identity.get("sourceIp") if isinstance(identity, dict) else None
    return str(address)[:64] if address else "unknown"


# ---------------------------------------------------------------- the ClassTop wire contract


@api.route("POST", "/api/clients/register", Access.PUBLIC, Scope.NONE, "Register a ClassTop client (idempotent)",
           body=RegisterClientBody, audit="client.register")
def register_client(call: Call[RegisterClientBody]) -> Response:
    act_as(f"client:{call.body.uuid}")
    client, created = container.get().classtop_clients.register(call.body.uuid, call.body.name, call.body.api_url)
    return ok({**client.to_dict(), "created": created}, message="Client registered")


@api.route("POST", "/api/sync", Access.PUBLIC, Scope.NONE, "Upload a ClassTop client's full snapshot", body=SyncBody,
           responses={"429": "over the rate limit of changing uploads (per client uuid, per source address): "
                             "nothing written"})
def sync(call: Call[SyncBody]) -> Response:
    counts = container.get().classtop_clients.sync(
        call.body.client_uuid,
        [c.to_stored() for c in call.body.courses],
        [e.to_stored() for e in call.body.schedule_entries],
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
           query=("status", "limit", "cursor"))
def list_clients(call: Call[None]) -> Response:
    status = query_str(call.request, "status")
    if status not in (None, Approval.PENDING.value):
        raise BadRequest("status: only 'pending' can be filtered on")
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
