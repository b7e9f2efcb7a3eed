"""Sites (each one LMS). The seed's paths (docs/seeds.md): ``POST /api/lms/register`` (no credentials for a new
site, the site's current API key, or an enrolment token with a CSR), ``POST /api/lms/heartbeat`` (the site's API
key), ``GET /api/lms``, ``GET /api/lms/{id}``, ``GET /api/lms/{id}/clients`` (the site's agents),
``DELETE /api/lms/{id}``; plus ``POST /api/lms/{id}/approve`` and ``POST /api/enrolments`` (one-time enrolment
tokens). The bodies of the seed calls keep the seed's wire names (``clients``, ``uuid``: the site's agents)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.agents import retire_detail
from chalicelib.api.http import act_as, ok, query_int, query_str
from chalicelib.api.params import CURSOR, limit
from chalicelib.api.routes import Access, Call, Link, Router, Scope
from chalicelib.domain.agent import Agent
from chalicelib.domain.site import Site
from chalicelib.repositories.change_mark import Area

if TYPE_CHECKING:
    from chalicelib.api.bodies.agents import RetireBody
    from chalicelib.api.bodies.sites import EnrolmentBody, LmsHeartbeatBody, LmsRegisterBody

#: a site's ``last_heartbeat`` moves without a change mark (``SiteRepository.save``): the list's ETag ages this often
SITE_LIST_CLOCK_S = 60

api = Router(__name__, tag="sites")


@api.route("POST", "/api/lms/register", Access.ENROLMENT, Scope.NONE, "Register or enrol an LMS (seed shape)",
           body="LmsRegisterBody", audit="lms.register")
def register_lms(call: Call[LmsRegisterBody]) -> Response:
    from chalicelib.services.lms import LmsRegistration  # this route's path only

    body = call.body
    act_as(f"lms:{body.lms_uuid}")
    registration = container.get().lms.register(
        LmsRegistration(body.lms_uuid, body.name, body.host, body.port, body.version, body.csr), call.credential
    )
    return ok(registration.to_dict())


@api.route("POST", "/api/lms/heartbeat", Access.LMS_KEY, Scope.NONE, "Seed LMS heartbeat (only changes are written)",
           body="LmsHeartbeatBody", links=tuple(
               Link("200", method, path, {"agent_id": "$request.body#/clients/0/uuid"}) for method, path in (
                   ("GET", "/api/agents/{agent_id}"), ("PUT", "/api/agents/{agent_id}/tags"),
                   ("GET", "/api/agents/{agent_id}/settings"), ("PUT", "/api/agents/{agent_id}/settings"),
                   ("POST", "/api/agents/{agent_id}/approve"), ("GET", "/api/cctv/agents/{agent_id}/cameras"))))
def lms_heartbeat(call: Call[LmsHeartbeatBody]) -> Response:
    from chalicelib.services.lms import LmsAgent  # this route's path only

    agents = [LmsAgent(c.uuid, c.name, c.status) for c in call.body.clients]
    report = container.get().lms.heartbeat(call.site, call.body.lms_uuid, agents)
    return ok({"site_id": report.site_id, "agents_written": report.agents_written,
               "agents_offlined": report.agents_offlined, "agents_refused": list(report.agents_refused)},
              message="Heartbeat received")


@api.route("GET", "/api/lms", Access.VIEWER, Scope.LIST, "List sites", query=(limit(100), CURSOR),
           etag=(Area.SITES,), etag_clock_s=SITE_LIST_CLOCK_S)
def list_sites(call: Call[None]) -> Response:
    page = container.get().sites.page(call.principal, limit=query_int(call.request, "limit", 100),
                                      cursor=query_str(call.request, "cursor"))
    return ok(page.to_dict("sites", Site.to_dict))


@api.route("GET", "/api/lms/{site_id}", Access.VIEWER, Scope.SITE, "One site")
def get_site(call: Call[None], site_id: str) -> Response:
    return ok(container.get().sites.get(site_id, call.principal).to_dict())


@api.route("GET", "/api/lms/{site_id}/clients", Access.VIEWER, Scope.SITE,
           "Agents of a site (the seed path; legacy ClassTop clients included)", query=(limit(100), CURSOR))
def site_agents(call: Call[None], site_id: str) -> Response:
    page = container.get().agents.page_of_site(site_id, call.principal, limit=query_int(call.request, "limit", 100),
                                               cursor=query_str(call.request, "cursor"))
    return ok(page.to_dict("clients", Agent.to_dict))


@api.route("POST", "/api/lms/{site_id}/approve", Access.ADMIN, Scope.SITE, "Approve a pending site",
           audit="lms.approve")
def approve_site(call: Call[None], site_id: str) -> Response:
    return ok(container.get().lms.approve(site_id, call.principal).to_dict())


@api.route("DELETE", "/api/lms/{site_id}", Access.ADMIN, Scope.SITE, "Delete a site and revoke its identity",
           audit="lms.delete")
def delete_site(call: Call[None], site_id: str) -> Response:
    site = container.get().lms.delete(site_id, call.principal)
    return ok({"site_id": site.site_id, "revoked": True}, message="LMS deleted")


@api.route("POST", "/api/lms/{site_id}/retire", Access.ADMIN, Scope.SITE,
           "Retire a site: its agents retired, its certificate and thing deleted, its API key revoked, its record "
           "kept as retired (its LMS is refused from then on)", body="RetireBody", body_optional=True,
           audit="lms.retire", audit_detail=retire_detail)
def retire_site(call: Call[RetireBody], site_id: str) -> Response:
    return ok(container.get().retirement.retire_site(site_id, call.principal).to_dict())


@api.route("POST", "/api/enrolments", Access.ADMIN, Scope.NAMED, "Create a one-time LMS enrolment token",
           body="EnrolmentBody", responses={"201": "created (the token is shown once)"}, audit="enrolment.create")
def create_enrolment(call: Call[EnrolmentBody]) -> Response:
    body = call.body
    # bound to no site, whoever holds it enrols a site of any id: tenant-wide; re-enrolling a site revokes its
    # certificate: only for the token's own sites
    call.principal.require_named_site(body.site_id, "an enrolment token bound to no site")
    secret, stored = container.get().lms.create_enrolment(body.name, site_id=body.site_id, ttl_s=body.ttl_s,
                                                          created_by=call.principal.name)
    return ok({"token": secret, "name": stored.name, "site_id": stored.site_id, "expires_at": stored.expires_at},
              201)
