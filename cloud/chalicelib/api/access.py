"""Who may call each route: the documented access table (docs/api.md, docs/openapi.json).

The role-matrix test calls every route with every kind of caller and checks the answer against this table, and
that the table lists exactly the app's routes.
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


@dataclass(frozen=True, slots=True)
class RouteDoc:
    method: str
    path: str
    access: Access
    summary: str
    tag: str


ROUTES: tuple[RouteDoc, ...] = (
    RouteDoc("GET", "/api/health", Access.PUBLIC, "Liveness, version and time (ClassTop and seed shape)", "health"),
    # ClassTop clients (CLASSTOP-COMPAT §1)
    RouteDoc("POST", "/api/clients/register", Access.PUBLIC, "Register a ClassTop client (idempotent)", "classtop"),
    RouteDoc("POST", "/api/sync", Access.PUBLIC, "Upload a ClassTop client's full snapshot", "classtop"),
    RouteDoc("GET", "/api/clients/{client_uuid}/courses", Access.PUBLIC, "A client's courses (its own ids)",
             "classtop"),
    RouteDoc("GET", "/api/clients/{client_uuid}/schedule", Access.PUBLIC, "A client's schedule (its own ids)",
             "classtop"),
    RouteDoc("GET", "/api/clients", Access.VIEWER, "List ClassTop clients (?status=pending)", "classtop"),
    RouteDoc("GET", "/api/clients/{client_uuid}", Access.VIEWER, "One ClassTop client", "classtop"),
    RouteDoc("POST", "/api/clients/{client_uuid}/approve", Access.ADMIN, "Approve a pending client", "classtop"),
    RouteDoc("POST", "/api/clients/{client_uuid}/reject", Access.ADMIN, "Reject a client", "classtop"),
    # sites (seed LMS paths)
    RouteDoc("POST", "/api/lms/register", Access.ENROLMENT, "Register or enrol an LMS (seed shape)", "sites"),
    RouteDoc("POST", "/api/lms/heartbeat", Access.LMS_KEY, "Seed LMS heartbeat (only changes are written)",
             "sites"),
    RouteDoc("GET", "/api/lms", Access.VIEWER, "List sites", "sites"),
    RouteDoc("GET", "/api/lms/{site_id}", Access.VIEWER, "One site", "sites"),
    RouteDoc("GET", "/api/lms/{site_id}/clients", Access.VIEWER, "Agents and clients of a site", "sites"),
    RouteDoc("POST", "/api/lms/{site_id}/approve", Access.ADMIN, "Approve a pending site", "sites"),
    RouteDoc("DELETE", "/api/lms/{site_id}", Access.ADMIN, "Delete a site and revoke its identity", "sites"),
    RouteDoc("POST", "/api/enrolments", Access.ADMIN, "Create a one-time LMS enrolment token", "sites"),
    # agents
    RouteDoc("GET", "/api/agents", Access.VIEWER, "List agents (site, status, group, tag, pending filters)",
             "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}", Access.VIEWER, "One agent", "agents"),
    RouteDoc("PUT", "/api/agents/{agent_id}/tags", Access.OPERATOR, "Replace an agent's tags", "agents"),
    RouteDoc("PUT", "/api/agents/{agent_id}/group", Access.OPERATOR, "Set or clear an agent's group", "agents"),
    RouteDoc("POST", "/api/agents/{agent_id}/approve", Access.ADMIN, "Approve a pending agent", "agents"),
    RouteDoc("POST", "/api/agents/{agent_id}/reject", Access.ADMIN, "Reject an agent", "agents"),
    RouteDoc("POST", "/api/agents/{agent_id}/move", Access.ADMIN,
             "Move an agent to another site (a heartbeat never moves an agent of another site)", "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}/snapshots", Access.VIEWER,
             "An agent's latest snapshots (settings, classtop, cctv_config) as its site sent them", "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}/settings", Access.VIEWER,
             "An agent's settings shadow: desired, reported and pending (desired not yet reported)", "agents"),
    RouteDoc("PUT", "/api/agents/{agent_id}/settings", Access.OPERATOR,
             "Merge desired settings into the agent's shadow (null removes a key); the site's LMS applies them",
             "agents"),
    RouteDoc("GET", "/api/agents/{agent_id}/commands", Access.VIEWER, "An agent's command history, newest first",
             "commands"),
    # commands
    RouteDoc("POST", "/api/commands", Access.OPERATOR, "Send a command to agents (exec: admin only)", "commands"),
    RouteDoc("POST", "/api/control/command", Access.OPERATOR, "Send a command (seed shape)", "commands"),
    RouteDoc("GET", "/api/commands/{command_id}", Access.VIEWER, "A command and its per-agent results", "commands"),
    # CCTV
    RouteDoc("GET", "/api/cctv/agents/{agent_id}/cameras", Access.VIEWER, "An agent's camera configurations",
             "cctv"),
    RouteDoc("GET", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.VIEWER, "One camera configuration",
             "cctv"),
    RouteDoc("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR,
             "Create or replace a camera configuration", "cctv"),
    RouteDoc("DELETE", "/api/cctv/agents/{agent_id}/cameras/{camera_id}", Access.OPERATOR,
             "Delete a camera configuration", "cctv"),
    RouteDoc("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot", Access.OPERATOR,
             "Have the agent upload one JPEG of the camera to the media bucket (presigned PUT)", "cctv"),
    RouteDoc("GET", "/api/cctv/agents/{agent_id}/status", Access.VIEWER, "Latest status of an agent's cameras",
             "cctv"),
    RouteDoc("GET", "/api/cctv/events", Access.VIEWER, "Events log (?agent_id= or ?day=)", "cctv"),
    # statistics and audit
    RouteDoc("GET", "/api/stats", Access.VIEWER, "Tenant statistics", "stats"),
    RouteDoc("GET", "/api/stats/sites/{site_id}", Access.VIEWER, "Site statistics", "stats"),
    RouteDoc("GET", "/api/audit", Access.ADMIN, "Audit log (?since=&until=), newest first", "audit"),
)
