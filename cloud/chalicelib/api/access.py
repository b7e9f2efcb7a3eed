"""Who may call each route: the documented access table (docs/api.md, docs/openapi.json).

Each route has an :class:`Access` (which credential, which role) and a :class:`Scope` (what a token limited to some
sites may reach through it). The role-matrix test calls every route with every kind of caller, and with tokens of
every role scoped to sites for a target inside and outside them, and checks each answer against this table; it
also checks that the table lists exactly the app's routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Access(StrEnum):
    #: no credentials; an Authorization header is ignored (health, the five ClassTop endpoints)
    PUBLIC = "public"
    #: no credentials (a new site; the tenant's ``lms_policy`` admits), the site's current API key (re-registration)
    #: or a one-time enrolment token; an API token is a 401
    ENROLMENT = "enrolment"
    #: the site's API key (``Authorization: Bearer ctl_…``); an API token is a 401
    LMS_KEY = "lms_key"
    #: an API token of at least this role; a token scoped to sites sees only those sites
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class Scope(StrEnum):
    """What an API token limited to some sites (``site_ids``) may reach through a route. An unscoped token (every
    site of the tenant) passes every scope check; the role check always comes first."""

    #: no API token involved (public, enrolment and site-key routes)
    NONE = "none"
    #: the target (a site, an agent, a command, a camera) belongs to a site: another site's target answers 404,
    #: exactly like an unknown one, for reads and writes alike (a token cannot probe what exists elsewhere)
    SITE = "site"
    #: a listing: filtered to the token's sites (a filter naming another site lists nothing)
    LIST = "list"
    #: creates something for the site named in the body: naming another site is a 403, and naming none (a
    #: tenant-wide act) needs an unscoped token (403)
    NAMED = "named"
    #: tenant-wide (the audit log, API tokens, ClassTop clients, which belong to no site): a token scoped to sites
    #: gets 403 whatever its role
    TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class RouteDoc:
    method: str
    path: str
    access: Access
    scope: Scope
    summary: str
    tag: str


ROUTES: tuple[RouteDoc, ...] = (
    RouteDoc("GET", "/api/health", Access.PUBLIC, Scope.NONE,
             "Liveness, version and time (ClassTop and seed shape)", "health"),
    # ClassTop clients (CLASSTOP-COMPAT §1)
    RouteDoc("POST", "/api/clients/register", Access.PUBLIC, Scope.NONE,
             "Register a ClassTop client (idempotent)", "classtop"),
    RouteDoc("POST", "/api/sync", Access.PUBLIC, Scope.NONE, "Upload a ClassTop client's full snapshot", "classtop"),
    RouteDoc("GET", "/api/clients/{client_uuid}/courses", Access.PUBLIC, Scope.NONE, "A client's courses (its own ids)",
             "classtop"),
    RouteDoc("GET", "/api/clients/{client_uuid}/schedule", Access.PUBLIC, Scope.NONE,
             "A client's schedule (its own ids)", "classtop"),
    RouteDoc("GET", "/api/clients", Access.VIEWER, Scope.TENANT, "List ClassTop clients (?status=pending)", "classtop"),
    RouteDoc("GET", "/api/clients/{client_uuid}", Access.VIEWER, Scope.TENANT, "One ClassTop client", "classtop"),
    RouteDoc("POST", "/api/clients/{client_uuid}/approve", Access.ADMIN, Scope.TENANT,
             "Approve a pending client", "classtop"),
    RouteDoc("POST", "/api/clients/{client_uuid}/reject", Access.ADMIN, Scope.TENANT, "Reject a client", "classtop"),
    # sites (seed LMS paths)
    RouteDoc("POST", "/api/lms/register", Access.ENROLMENT, Scope.NONE,
             "Register or enrol an LMS (seed shape)", "sites"),
    RouteDoc("POST", "/api/lms/heartbeat", Access.LMS_KEY, Scope.NONE, "Seed LMS heartbeat (only changes are written)",
             "sites"),
    RouteDoc("GET", "/api/lms", Access.VIEWER, Scope.LIST, "List sites", "sites"),
    RouteDoc("GET", "/api/lms/{site_id}", Access.VIEWER, Scope.SITE, "One site", "sites"),
    RouteDoc("GET", "/api/lms/{site_id}/clients", Access.VIEWER, Scope.SITE, "Agents and clients of a site", "sites"),
    RouteDoc("POST", "/api/lms/{site_id}/approve", Access.ADMIN, Scope.SITE, "Approve a pending site", "sites"),
    RouteDoc("DELETE", "/api/lms/{site_id}", Access.ADMIN, Scope.SITE,
             "Delete a site and revoke its identity", "sites"),
    RouteDoc("POST", "/api/enrolments", Access.ADMIN, Scope.NAMED, "Create a one-time LMS enrolment token", "sites"),
    # agents
    RouteDoc("GET", "/api/agents", Access.VIEWER, Scope.LIST, "List agents (site, status, group, tag, pending filters)",
             "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}", Access.VIEWER, Scope.SITE, "One agent", "agents"),
    RouteDoc("PUT", "/api/agents/{agent_id}/tags", Access.OPERATOR, Scope.SITE, "Replace an agent's tags", "agents"),
    RouteDoc("PUT", "/api/agents/{agent_id}/group", Access.OPERATOR, Scope.SITE,
             "Set or clear an agent's group", "agents"),
    RouteDoc("POST", "/api/agents/{agent_id}/approve", Access.ADMIN, Scope.SITE, "Approve a pending agent", "agents"),
    RouteDoc("POST", "/api/agents/{agent_id}/reject", Access.ADMIN, Scope.SITE, "Reject an agent", "agents"),
    RouteDoc("POST", "/api/agents/{agent_id}/move", Access.ADMIN, Scope.SITE,
             "Move an agent to another site (a heartbeat never moves an agent of another site)", "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}/snapshots", Access.VIEWER, Scope.SITE,
             "An agent's latest snapshots (settings, classtop, cctv_config) as its site sent them", "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}/settings", Access.VIEWER, Scope.SITE,
             "An agent's settings shadow: desired, reported and pending (desired not yet reported)", "agents"),
    RouteDoc("PUT", "/api/agents/{agent_id}/settings", Access.OPERATOR, Scope.SITE,
             "Merge desired settings into the agent's shadow (null removes a key); the site's LMS applies them",
             "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}/commands", Access.VIEWER, Scope.SITE,
             "An agent's command history, newest first", "commands"),
    # commands
    RouteDoc("POST", "/api/commands", Access.OPERATOR, Scope.SITE,
             "Send a command to agents (exec: admin only)", "commands"),
    RouteDoc("POST", "/api/control/command", Access.OPERATOR, Scope.SITE, "Send a command (seed shape)", "commands"),
    RouteDoc("GET", "/api/commands/{command_id}", Access.VIEWER, Scope.SITE,
             "A command and its per-agent results", "commands"),
    # CCTV
    RouteDoc("GET", "/api/cctv/agents/{agent_id}/cameras", Access.VIEWER, Scope.SITE,
             "An agent's camera configurations", "cctv"),
    RouteDoc("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.VIEWER, Scope.SITE,
             "One camera configuration", "cctv"),
    RouteDoc("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR, Scope.SITE,
             "Create or replace a camera configuration", "cctv"),
    RouteDoc("DELETE", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR, Scope.SITE,
             "Delete a camera configuration", "cctv"),
    RouteDoc("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot", Access.OPERATOR, Scope.SITE,
             "Have the agent upload one JPEG of the camera to the media bucket (presigned PUT)", "cctv"),
    RouteDoc("GET", "/api/cctv/agents/{agent_id}/status", Access.VIEWER, Scope.SITE,
             "Latest status of an agent's cameras", "cctv"),
    RouteDoc("GET", "/api/cctv/events", Access.VIEWER, Scope.LIST, "Events log (?agent_id= or ?day=)", "cctv"),
    # statistics and audit
    RouteDoc("GET", "/api/stats", Access.VIEWER, Scope.LIST, "Tenant statistics", "stats"),
    RouteDoc("GET", "/api/stats/sites/{site_id}", Access.VIEWER, Scope.SITE, "Site statistics", "stats"),
    RouteDoc("GET", "/api/audit", Access.ADMIN, Scope.TENANT, "Audit log (?since=&until=), newest first", "audit"),
    # API tokens (people and scripts)
    RouteDoc("GET", "/api/tokens", Access.ADMIN, Scope.TENANT, "List API tokens (never their secrets)", "tokens"),
    RouteDoc("POST", "/api/tokens", Access.ADMIN, Scope.TENANT,
             "Create an API token (the secret is shown once; it expires)", "tokens"),
    RouteDoc("DELETE", "/api/tokens/{token_id}", Access.ADMIN, Scope.TENANT, "Revoke an API token by its id",
             "tokens"),
)
