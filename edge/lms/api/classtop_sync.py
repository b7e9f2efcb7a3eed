"""The five ClassTop HTTP sync endpoints (docs/classtop.md#http-sync-five-endpoints-no-credentials), without
authentication.

Unchanged ClassTop clients send no credentials, so these paths are open (like ``/api/health``); they only
read and write the ClassTop timetable of the client named in the request, never anything else of the LMS.
Shapes are exact: ``data`` is always an object, ids are the client's own, ``location`` is a string and
``weeks`` a list. Bad bodies get the LMS's usual 400/422 error bodies (the client treats them as failures).

Open does not mean unbounded (:mod:`edge.lms.legacy.admission`):

* each source address gets ``[classtop] requests_per_minute`` requests to the four uuid endpoints (then 429 with
  ``Retry-After``);
* an agent's id is refused (403): a LAN host can neither read nor overwrite an agent's timetable;
* a new uuid is admitted by the site's policy (``open``: approved; ``approval``: pending) — a pending or rejected
  client's register is answered but its sync and downloads are refused (403) until a site admin approves it;
* the SQLite work runs in the thread pool (plain ``def`` handlers), never on the event loop.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import ClientUuidPath
from edge.lms.api.services import Services, ServicesDep
from edge.lms.legacy import Approval, Refused
from shared.classtop_wire import ClientRegistration, SyncUpload


async def _within_rate(request: Request) -> str:
    """The caller's address, once it is within its budget of ClassTop requests (else 429)."""
    services: Services = request.app.state.services
    address = request.client.host if request.client is not None else ""
    wait = services.sync_rate.take(address)
    if wait:
        raise HTTPException(429, f"too many ClassTop requests from {address}; retry in {math.ceil(wait)} s",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip
    return address


AddressDep = Annotated[str, Depends(_within_rate)]
router = APIRouter(tags=["classtop sync"], responses=errors(403, 429, 503))


def _admit(services: Services, client_uuid: str, address: str, *, create: bool) -> Approval | None:
    try:
        return services.admissions.admit(client_uuid, address, create=create)
    except Refused as exc:
        raise HTTPException(exc.status, exc.message) from None


def _approved(services: Services, client_uuid: str, address: str, *, create: bool) -> bool:
    """Whether ``uuid`` may sync (else 403); ``False`` for an unknown uuid when not ``create``."""
    approval = _admit(services, client_uuid, address, create=create)
    if approval is Approval.PENDING:
        raise HTTPException(403, f"ClassTop client {client_uuid!r} is waiting for approval by the site admin")
    return approval is Approval.APPROVED


@router.post("/api/clients/register")
def register(body: ClientRegistration, services: ServicesDep, address: AddressDep) -> dict[str, Any]:
    approval = _admit(services, body.uuid, address, create=True)
    if approval is not Approval.APPROVED:  # pending: answered (the client only needs a 2xx), nothing stored
        return {"success": True, "message": "waiting for approval by the site admin",
                "data": {"uuid": body.uuid, "approval": "pending"}}  # fmt: skip
    data = services.timetables.register(body)
    return {"success": True, "message": "registered", "data": {**data, "approval": "approved"}}


@router.post("/api/sync")
def sync(body: SyncUpload, services: ServicesDep, address: AddressDep) -> dict[str, Any]:
    _approved(services, body.client_uuid, address, create=True)
    return {"success": True, "data": services.timetables.sync(body)}


@router.get("/api/clients/{uuid}/courses")
def courses(client_uuid: ClientUuidPath, services: ServicesDep, address: AddressDep) -> dict[str, Any]:
    known = _approved(services, client_uuid, address, create=False)
    return {"success": True, "data": {"courses": services.timetables.courses(client_uuid) if known else []}}


@router.get("/api/clients/{uuid}/schedule")
def schedule(client_uuid: ClientUuidPath, services: ServicesDep, address: AddressDep) -> dict[str, Any]:
    known = _approved(services, client_uuid, address, create=False)
    entries = services.timetables.schedule(client_uuid) if known else []
    return {"success": True, "data": {"schedule_entries": entries}}
