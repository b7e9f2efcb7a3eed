"""Sites (each one LMS). Seed paths: ``POST /api/lms/register`` (no credentials for a new site, the site's current
API key, or an enrolment token with a CSR),
``POST /api/lms/heartbeat`` (the site's API key), ``GET /api/lms``, ``GET /api/lms/{id}``,
``GET /api/lms/{id}/clients``, ``DELETE /api/lms/{id}``; plus ``POST /api/lms/{id}/approve`` and
``POST /api/enrolments`` (one-time enrolment tokens)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import container
from chalicelib.api.http import act_as, audited, authenticate, endpoint, ok, parse_body, query_int, query_str
from chalicelib.api.lms_schemas import EnrolmentBody, LmsHeartbeatBody, LmsRegisterBody
from chalicelib.domain.agent import Agent
from chalicelib.domain.site import Site
from chalicelib.domain.token import Role
from chalicelib.errors import BadRequest
from chalicelib.services.lms import LmsAgent, LmsRegistration, bearer_secret
from shared.topics import is_valid_id

bp = Blueprint(__name__)


def _site_id(site_id: str) -> str:
    if not is_valid_id(site_id):
        raise BadRequest(f"site id: invalid {site_id[:80]!r}")
    return site_id


@bp.route("/api/lms/register", methods=["POST"])
@audited(bp, "lms.register")
@endpoint
def register_lms() -> Response:
    request = bp.current_request
    header = request.headers.get("authorization")
    credential = bearer_secret(header) if header else None
    body = parse_body(request, LmsRegisterBody)
    act_as(f"lms:{body.lms_uuid}")
    registration = container.get().lms.register(
        LmsRegistration(body.lms_uuid, body.name, body.host, body.port, body.version, body.csr), credential
    )
    return ok(registration.to_dict())


@bp.route("/api/lms/heartbeat", methods=["POST"])
@endpoint
def lms_heartbeat() -> Response:
    request = bp.current_request
    lms = container.get().lms
    site = lms.authenticate(request.headers.get("authorization"))  # 401 before the body is even read
    body = parse_body(request, LmsHeartbeatBody)
    report = lms.heartbeat(site, body.lms_uuid, [LmsAgent(c.uuid, c.name, c.status) for c in body.clients])
    return ok({"site_id": report.site_id, "agents_written": report.agents_written,
               "agents_offlined": report.agents_offlined, "agents_refused": list(report.agents_refused)},
              message="Heartbeat received")


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
    return ok(container.get().sites.get(_site_id(site_id), principal).to_dict())


@bp.route("/api/lms/{site_id}/clients", methods=["GET"])
@endpoint
def site_agents(site_id: str) -> Response:
    request = bp.current_request
    principal = authenticate(request)
    services = container.get()
    services.sites.get(_site_id(site_id), principal)  # 404 for an unknown or unseen site
    page = services.agents.page(principal, site_id=site_id, limit=query_int(request, "limit", 100),
                                cursor=query_str(request, "cursor"))
    return ok(page.to_dict("clients", Agent.to_dict))


@bp.route("/api/lms/{site_id}/approve", methods=["POST"])
@audited(bp, "lms.approve")
@endpoint
def approve_site(site_id: str) -> Response:
    principal = authenticate(bp.current_request, Role.ADMIN)
    services = container.get()
    services.sites.get(_site_id(site_id), principal)  # 404 for an unknown site or one outside the token's sites
    return ok(services.lms.approve(site_id).to_dict())


@bp.route("/api/lms/{site_id}", methods=["DELETE"])
@audited(bp, "lms.delete")
@endpoint
def delete_site(site_id: str) -> Response:
    principal = authenticate(bp.current_request, Role.ADMIN)
    services = container.get()
    services.sites.get(_site_id(site_id), principal)  # 404 for an unknown site or one outside the token's sites
    site = services.lms.delete(site_id)
    return ok({"site_id": site.site_id, "revoked": True}, message="LMS deleted")


@bp.route("/api/enrolments", methods=["POST"])
@audited(bp, "enrolment.create")
@endpoint
def create_enrolment() -> Response:
    request = bp.current_request
    principal = authenticate(request, Role.ADMIN)
    body = parse_body(request, EnrolmentBody)
    if body.site_id is None:  # whoever holds it enrols a site of any id: tenant-wide
        principal.require_unscoped("an enrolment token bound to no site")
    else:  # re-enrolling a site revokes its certificate: only for the token's own sites
        principal.require_sites({body.site_id})
    secret, stored = container.get().lms.create_enrolment(body.name, site_id=body.site_id, ttl_s=body.ttl_s,
                                                          created_by=principal.name)
    return ok({"token": secret, "name": stored.name, "site_id": stored.site_id, "expires_at": stored.expires_at},
              201)
