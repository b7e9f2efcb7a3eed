"""Agent enrolment: enrolment tokens (admin), the token-for-credentials exchange (agents), revocation (admin).

* ``GET /api/enroll/ca`` (no auth): the site CA's certificate (PEM). An agent fetches it before it sends a
  token, checks its SHA-256 against the fingerprint it was configured with (``[enroll] ca_hash``), and from
  then on trusts this CA only.
* ``POST /api/enrolment-tokens`` (admin) ``{ttl_s, max_uses, note?}`` -> 201, the agent enrolment token (``cta_…``,
  shown once) and ``ca_hash``, the site CA's fingerprint to configure beside it.
* ``GET /api/enrolment-tokens`` (admin): the tokens' metadata (never the tokens), the enrolments and ``ca_hash``.
* ``/api/enrolments-tokens`` (the spelling these paths had first) stays an alias of both.
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

from edge.lms.api.authentication import AdminDep
from edge.lms.api.errors import error_response
from edge.lms.api.openapi import errors
from edge.lms.api.path_ids import AgentIdPath
from edge.lms.api.services import ServicesDep
from edge.lms.enrolment import MAX_TOKEN_LENGTH, EnrolmentError, Enrolments
from edge.lms.tls import TlsFiles
from shared.errors import ErrorCode
from shared.messages.base import Count
from shared.topics import ID_PATTERN

router = APIRouter(tags=["enrolment"])

PEM_MEDIA_TYPE = "application/x-pem-file"


@dataclass(slots=True)
class SiteCaInfo:
    """The site CA's certificate and fingerprint (``sha256:<hex>``), as agents see them (updated in place when the
    site CA is switched: edge.lms.tls.ca_rotation)."""

    pem: str
    fingerprint: str

    def update(self, files: TlsFiles) -> None:
        """A site CA switched by a rotation: shown to agents that enrol from now on."""
        self.pem, self.fingerprint = files.ca_pem, files.fingerprint


_STATUS_CODES = {
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.UNKNOWN_AGENT,
    409: ErrorCode.CONFLICT,
    422: ErrorCode.BAD_PAYLOAD,
}


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # counts are JSON numbers: ``true`` is not 1, ``"60"`` not 60 (lax parsing took both)
    ttl_s: Count = Field(default=86400, ge=60, le=365 * 86400, description="the token is valid this long")
    max_uses: Count = Field(default=1, ge=1, le=100_000, description="enrolments the token allows")
    note: str | None = Field(default=None, max_length=200, description="what the token is for")


class EnrolRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH, description="an enrolment token")
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN, description="absent: the LMS makes one up")
    hostname: str = Field(min_length=1, max_length=255, description="the PC's hostname")


async def get_enrolments(request: Request) -> Enrolments:
    enrolments: Enrolments | None = getattr(request.app.state, "enrolments", None)
    if enrolments is None:
        raise EnrolmentError("enrolment is off: this LMS has no [site_broker.dynsec] configuration", status=501)
    return enrolments


EnrolmentsDep = Annotated[Enrolments, Depends(get_enrolments)]


def refusal(exc: EnrolmentError) -> JSONResponse:
    code = _STATUS_CODES.get(exc.status, ErrorCode.NOT_SUPPORTED if exc.status == 501 else ErrorCode.INTERNAL)
    return error_response(exc.status, exc.message, code)


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EnrolmentError)
    return refusal(exc)


def install(app: FastAPI, enrolments: Enrolments | None, site_ca: SiteCaInfo | None = None) -> None:
    """Add the enrolment paths to ``app``; ``enrolments=None`` (no dynsec configured) makes them answer 501."""
    app.state.enrolments = enrolments
    app.state.site_ca = site_ca
    app.add_exception_handler(EnrolmentError, _refused)
    app.include_router(router)


def _ca_hash(request: Request) -> str | None:
    site_ca: SiteCaInfo | None = getattr(request.app.state, "site_ca", None)
    return None if site_ca is None else site_ca.fingerprint


@router.get(
    "/api/enroll/ca",
    response_class=Response,
    responses={200: {"content": {PEM_MEDIA_TYPE: {}}, "description": "the site CA certificate (PEM)"}, **errors(501)},
)
async def site_ca_certificate(request: Request) -> Response:
    site_ca: SiteCaInfo | None = getattr(request.app.state, "site_ca", None)
    if site_ca is None:
        return error_response(501, "this LMS has no site CA", ErrorCode.NOT_SUPPORTED)
    return Response(site_ca.pem, media_type=PEM_MEDIA_TYPE, headers={"Cache-Control": "no-store"})


#: The agent enrolment tokens' paths: the glossary's spelling, and the one they had first (an alias, kept).
TOKEN_PATHS = ("/api/enrolment-tokens", "/api/enrollment-tokens")


async def create_token(  # the caller is authenticated first: 401 before 501
    principal: AdminDep, body: TokenRequest, enrolments: EnrolmentsDep, services: ServicesDep, request: Request
) -> dict[str, Any]:
    new = enrolments.create_token(ttl_s=body.ttl_s, max_uses=body.max_uses, note=body.note, created_by=principal.actor)
    services.audit.record(
        principal.actor, principal.role.label, "enrollment_token:create", str(new.id), "ok",
        {"ttl_s": body.ttl_s, "max_uses": body.max_uses, "note": body.note},
    )  # the audit action keeps the name it has in existing logs
    return {
        "success": True,
        "data": {
            "token": new.token, "id": new.id, "expires_at": new.expires_at, "max_uses": new.max_uses,
            "ca_hash": _ca_hash(request),
        },
    }  # fmt: skip


async def list_tokens(_principal: AdminDep, enrolments: EnrolmentsDep, request: Request) -> dict[str, Any]:
    data = {"tokens": enrolments.tokens(), "enrollments": enrolments.enrolments(), "ca_hash": _ca_hash(request)}
    return {"success": True, "data": data}


for _path in TOKEN_PATHS:
    _alias = _path != TOKEN_PATHS[0]
    _note = f" (an alias of {TOKEN_PATHS[0]})" if _alias else ""
    router.post(_path, status_code=201, deprecated=_alias, summary=f"Create an agent enrolment token{_note}",
                responses=errors(501))(create_token)  # fmt: skip
    router.get(_path, deprecated=_alias, summary=f"List the agent enrolment tokens and enrolments{_note}",
               responses=errors(501))(list_tokens)  # fmt: skip


@router.post("/api/enroll", responses=errors(401, 403, 404, 409, 501, 502, 503))
async def enrol(body: EnrolRequest, enrolments: EnrolmentsDep) -> dict[str, Any]:
    # The broker round trips block: keep them off the event loop.
    result = await asyncio.to_thread(enrolments.enrol, body.token, agent_id=body.agent_id, hostname=body.hostname)
    return {"success": True, "data": result.to_dict()}


@router.delete("/api/clients/{uuid}/credentials", response_model=None, responses=errors(404, 409, 501, 502, 503))
async def revoke_credentials(
    principal: AdminDep, agent_id: AgentIdPath, enrolments: EnrolmentsDep, services: ServicesDep
) -> dict[str, Any] | JSONResponse:
    try:
        await asyncio.to_thread(enrolments.revoke, agent_id)
    except EnrolmentError as exc:
        services.audit.record(principal.actor, principal.role.label, "credentials:revoke", agent_id, f"refused: {exc}")
        return refusal(exc)
    services.audit.record(principal.actor, principal.role.label, "credentials:revoke", agent_id, "ok")
    return {"success": True, "data": {"agent_id": agent_id, "revoked": True}}
