"""Agent upgrades (docs/upgrades.md; docs/api.md#agent-upgrades).

| path | who |
|---|---|
| ``GET /api/upgrades/packages`` | viewer: the stored packages (version, sha256, size) |
| ``GET /api/upgrades/packages/{version}/download?agent=&ticket=`` | an agent with its download ticket (else 401) |
| ``POST /api/upgrades/campaigns`` ``{version, agent_ids?, canary_percent?, wave_size?}`` | admin |
| ``GET /api/upgrades/campaigns``, ``GET /api/upgrades/campaigns/{id}`` | viewer: state, per-agent state/versions |
| ``POST /api/upgrades/campaigns/{id}/cancel`` | admin: no further wave starts |

Packages are added with the CLI (``python -m edge.lms.upgrades add-package``), which verifies them.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.api.authentication import AdminDep, require_viewer
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import DIGITS_ONLY
from edge.lms.api.services import Services, ServicesDep
from edge.lms.upgrades.runner import UpgradeRefused, Upgrades
from shared.agent_packages import VERSION_PATTERN
from shared.errors import ErrorCode
from shared.topics import ID_PATTERN

router = APIRouter(prefix="/api/upgrades", tags=["upgrades"])
_CODES = {404: ErrorCode.NOT_FOUND, 409: ErrorCode.CONFLICT}


class CampaignRequest(BaseModel):
    """``POST /api/upgrades/campaigns`` body."""

    model_config = ConfigDict(extra="forbid")

    version: str = Field(pattern=VERSION_PATTERN, description="a stored package's version")
    agent_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(
        default=None, min_length=1, max_length=5000, description="default: every agent of the site"
    )
    canary_percent: float = Field(default=10.0, gt=0, le=100, description="share of the first wave (at least one)")
    wave_size: int = Field(default=25, ge=1, le=5000, description="agents per wave after the canary")


async def get_upgrades(request: Request) -> Upgrades:
    upgrades: Upgrades = request.app.state.upgrades
    return upgrades


UpgradesDep = Annotated[Upgrades, Depends(get_upgrades)]
CampaignId = Annotated[int, Path(ge=1, le=2**53), DIGITS_ONLY]


def _refused(exc: UpgradeRefused) -> JSONResponse:
    return error_response(exc.status, exc.message, _CODES.get(exc.status, ErrorCode.BAD_PAYLOAD))


#: The download's answers: the package, or 401 without a valid ticket (agent and ticket are its credentials).
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the package (tar.gz)", "content": {"application/gzip": {}}},
    **errors(401),
}


@router.get("/packages", dependencies=[Depends(require_viewer)])
async def list_packages(upgrades: UpgradesDep) -> dict[str, Any]:
    packages = [asdict(p) for p in upgrades.package_list()]
    return {"success": True, "data": {"packages": packages, "count": len(packages)}}


@router.get("/packages/{version}/download", response_model=None, responses=DOWNLOAD_RESPONSES)
async def download(
    version: str,
    upgrades: UpgradesDep,
    agent: str | None = Query(default=None, max_length=64),
    ticket: str | None = Query(default=None, max_length=80),
) -> FileResponse:
    """The package, for an agent holding a ticket for it (no bearer token: 401 like any unauthenticated call)."""
    path = upgrades.download(version, agent, ticket) if agent and ticket else None
    if path is None:
        raise HTTPException(401, "authentication required: a valid download ticket for this agent and package "
                                 "(the LMS sends it with upgrade_agent)", headers={"WWW-Authenticate": "Bearer"})
    return FileResponse(path, media_type="application/gzip", filename=f"classtop-agent-{version}.tar.gz")


@router.post("/campaigns", status_code=201, response_model=None, responses=errors(404, 409))
async def create_campaign(
    body: CampaignRequest, upgrades: UpgradesDep, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        campaign = upgrades.create(principal, body.version, body.agent_ids, body.canary_percent, body.wave_size)
    except UpgradeRefused as exc:
        return _refused(exc)
    services.audit.record(principal.actor, principal.role.label, "upgrade:campaign", f"#{campaign['id']}", "ok",
                          {"version": body.version, "agents": len(campaign["agents"])})  # fmt: skip
    return {"success": True, "data": campaign}


@router.get("/campaigns", dependencies=[Depends(require_viewer)])
async def list_campaigns(
    upgrades: UpgradesDep, limit: Annotated[int, Query(ge=1, le=1000), DIGITS_ONLY] = 100
) -> dict[str, Any]:
    campaigns = upgrades.rows.list(limit)
    return {"success": True, "data": {"campaigns": campaigns, "count": len(campaigns)}}


@router.get("/campaigns/{campaign_id}", dependencies=[Depends(require_viewer)], response_model=None,
            responses=errors(404))
async def get_campaign(campaign_id: CampaignId, upgrades: UpgradesDep) -> dict[str, Any] | JSONResponse:
    campaign = upgrades.rows.get(campaign_id)
    if campaign is None:
        return error_response(404, f"no campaign #{campaign_id}", ErrorCode.NOT_FOUND)
    return {"success": True, "data": campaign}


@router.post("/campaigns/{campaign_id}/cancel", response_model=None, responses=errors(404, 409))
async def cancel_campaign(
    campaign_id: CampaignId, upgrades: UpgradesDep, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        campaign = upgrades.cancel(campaign_id)
    except UpgradeRefused as exc:
        return _refused(exc)
    services.audit.record(principal.actor, principal.role.label, "upgrade:cancel", f"#{campaign_id}", "ok")
    return {"success": True, "data": campaign}


def install(app: FastAPI, services: Services) -> None:
    app.state.upgrades = Upgrades(services.config, services.store, services.registry, services.commands)
    app.include_router(router)
    attach = getattr(services.cloud, "attach_upgrades", None)  # a CloudSide (not a bare status)
    if callable(attach):  # campaigns ordered by the cloud run on the same service
        attach(app.state.upgrades)
