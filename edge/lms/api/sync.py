"""The five ClassTop HTTP sync endpoints (CLASSTOP-COMPAT.md §1), without authentication.

Unchanged ClassTop clients send no credentials, so these paths are open (like ``/api/health``); they only
read and write the ClassTop timetable of the client named in the request, never anything else of the LMS.
Shapes are exact: ``data`` is always an object, ids are the client's own, ``location`` is a string and
``weeks`` a list. Bad bodies get the LMS's usual 400/422 error bodies (the client treats them as failures).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edge.lms.api.deps import ServicesDep
from edge.lms.legacy.timetable import RegisterBody, SyncBody

router = APIRouter(tags=["classtop sync"])


@router.post("/api/clients/register")
async def register(body: RegisterBody, services: ServicesDep) -> dict[str, Any]:
    data = services.timetables.register(body)
    return {"success": True, "message": "registered", "data": data}


@router.post("/api/sync")
async def sync(body: SyncBody, services: ServicesDep) -> dict[str, Any]:
    return {"success": True, "data": services.timetables.sync(body)}


@router.get("/api/clients/{uuid}/courses")
async def courses(uuid: str, services: ServicesDep) -> dict[str, Any]:
    return {"success": True, "data": {"courses": services.timetables.courses(uuid)}}


@router.get("/api/clients/{uuid}/schedule")
async def schedule(uuid: str, services: ServicesDep) -> dict[str, Any]:
    return {"success": True, "data": {"schedule_entries": services.timetables.schedule(uuid)}}
