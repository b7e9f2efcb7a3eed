"""Agent enrolment: enrolment tokens (admin), the token-for-credentials exchange (agents), revocation (admin).

* ``GET /api/enroll/ca`` (no auth): the site CA's certificate (PEM). An agent fetches it before it sends a
  token, checks its SHA-256 against the fingerprint it was configured with (``[enroll] ca_hash``), and from
  then on trusts this CA only.
* ``POST /api/enrollment-tokens`` (admin) ``{ttl_s, max_uses, note?}`` -> 201, the token (shown once) and
  ``ca_hash``, the site CA's fingerprint to configure beside it.
* ``GET /api/enrollment-tokens`` (admin): the tokens' metadata (never the tokens) and ``ca_hash``.
* ``POST /api/enroll`` (no bearer token: the enrolment token in the body is the credential)
  ``{token, agent_id?, hostname}`` -> ``{agent_id, rotated, mqtt: {host, port, username, password, tls}}``.
* ``DELETE /api/clients/{uuid}/credentials`` (admin): the agent's broker credentials are deleted and it is
  disconnected at once.

Token problems are 401 (unknown) / 403 (expired, used up); a broker that does not answer is 503. With no
``[site_broker.dynsec]`` in the LMS's configuration these paths answer 501 ``not_supported`` (the CA is
served all the same).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from edge.lms.api.errors import error_response
from edge.lms.api.services import AdminDep, ServicesDep
from edge.lms.enrolment import MAX_TOKEN_LENGTH, Enrollment, EnrollmentError
from shared.errors import ErrorCode
from shared.topics import ID_PATTERN

router = APIRouter(tags=["enrolment"])

PEM_MEDIA_TYPE = "application/x-pem-file"


@dataclass(frozen=True, slots=True)
class SiteCaInfo:
    """The site CA's certificate and fingerprint (``sha256:<hex>``), as agents see them."""

    pem: str
    fingerprint: str

_STATUS_CODES = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.UNKNOWN_AGENT,
    409: ErrorCode.CONFLICT,
    422: ErrorCode.BAD_PAYLOAD,
}


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: int = Field(default=86400, ge=60, le=365 * 86400, description="the token is valid this long")
    max_uses: int = Field(default=1, ge=1, le=100_000, description="enrolments the token allows")
    note: str | None = Field(default=None, max_length=200, description="what the token is for")


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH, description="an enrolment token")
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN, description="absent: the LMS makes one up")
    hostname: str = Field(min_length=1, max_length=255, description="the PC's hostname")


async def get_enrollment(request: Request) -> Enrollment:
    enrollment: Enrollment | None = getattr(request.app.state, "enrollment", None)
    if enrollment is None:
        raise EnrollmentError("enrolment is off: this LMS has no [site_broker.dynsec] configuration", status=501)
    return enrollment


EnrollmentDep = Annotated[Enrollment, Depends(get_enrollment)]


def refusal(exc: EnrollmentError) -> JSONResponse:
    code = _STATUS_CODES.get(exc.status, ErrorCode.NOT_SUPPORTED if exc.status == 501 else ErrorCode.INTERNAL)
    return error_response(exc.status, exc.message, code)


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EnrollmentError)
    return refusal(exc)


def install(app: FastAPI, enrollment: Enrollment | None, site_ca: SiteCaInfo | None = None) -> None:
    """Add the enrolment paths to ``app``; ``enrollment=None`` (no dynsec configured) makes them answer 501."""
    app.state.enrollment = enrollment
    app.state.site_ca = site_ca
    app.add_exception_handler(EnrollmentError, _refused)
    app.include_router(router)


def _ca_hash(request: Request) -> str | None:
    site_ca: SiteCaInfo | None = getattr(request.app.state, "site_ca", None)
    return None if site_ca is None else site_ca.fingerprint


@router.get(
    "/api/enroll/ca",
    response_class=Response,
    responses={200: {"content": {PEM_MEDIA_TYPE: {}}, "description": "the site CA certificate (PEM)"}},
)
async def site_ca_certificate(request: Request) -> Response:
    site_ca: SiteCaInfo | None = getattr(request.app.state, "site_ca", None)
    if site_ca is None:
        return error_response(501, "this LMS has no site CA", ErrorCode.NOT_SUPPORTED)
    return Response(site_ca.pem, media_type=PEM_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


@router.post("/api/enrollment-tokens", status_code=201)
async def create_token(
    body: TokenRequest, enrollment: EnrollmentDep, services: ServicesDep, principal: AdminDep, request: Request
) -> dict[str, Any]:
    new = enrollment.create_token(ttl_s=body.ttl_s, max_uses=body.max_uses, note=body.note, created_by=principal.actor)
    services.audit.record(
        principal.actor, principal.role.label, "enrollment_token:create", str(new.id), "ok",
        {"ttl_s": body.ttl_s, "max_uses": body.max_uses, "note": body.note},
    )
    return {
        "success": True,
        "data": {
            "token": new.token, "id": new.id, "expires_at": new.expires_at, "max_uses": new.max_uses,
            "ca_hash": _ca_hash(request),
        },
    }  # fmt: skip


@router.get("/api/enrollment-tokens")
async def list_tokens(enrollment: EnrollmentDep, _principal: AdminDep, request: Request) -> dict[str, Any]:
    data = {"tokens": enrollment.tokens(), "enrollments": enrollment.enrollments(), "ca_hash": _ca_hash(request)}
    return {"success": True, "data": data}


@router.post("/api/enroll")
async def enroll(body: EnrollRequest, enrollment: EnrollmentDep) -> dict[str, Any]:
    # The broker round trips block: keep them off the event loop.
    result = await asyncio.to_thread(enrollment.enroll, body.token, agent_id=body.agent_id, hostname=body.hostname)
    return {"success": True, "data": result.to_dict()}


@router.delete("/api/clients/{uuid}/credentials", response_model=None)
async def revoke_credentials(
    uuid: str, enrollment: EnrollmentDep, services: ServicesDep, principal: AdminDep
) -> dict[str, Any] | JSONResponse:
    try:
        await asyncio.to_thread(enrollment.revoke, uuid)
    except EnrollmentError as exc:
        services.audit.record(principal.actor, principal.role.label, "credentials:revoke", uuid, f"refused: {exc}")
        return refusal(exc)
    services.audit.record(principal.actor, principal.role.label, "credentials:revoke", uuid, "ok")
    return {"success": True, "data": {"agent_id": uuid, "revoked": True}}
