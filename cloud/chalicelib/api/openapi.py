"""The OpenAPI 3.1 document of the cloud API, built from the access table (``access.ROUTES``: ``x-access`` and
``x-scope`` of each operation) and the request schemas. ``docs/openapi.json`` is this document
(``python cloud/manage.py openapi > docs/openapi.json``); a test keeps the two, and the app's routes, in step."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib import __version__
from chalicelib.api.access import ROUTES, Access
from chalicelib.api.agent_settings import AgentSettingsBody
from chalicelib.api.cctv_schemas import CameraConfigBody, SnapshotBody
from chalicelib.api.classtop_schemas import RegisterClientBody, SyncBody
from chalicelib.api.lms_schemas import AgentMoveBody, EnrolmentBody, LmsHeartbeatBody, LmsRegisterBody
from chalicelib.api.schemas import (
    AgentGroupBody,
    AgentTagsBody,
    ControlCommandBody,
    CreateCommandBody,
    CreateTokenBody,
)

BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/api/clients/register"): RegisterClientBody,
    ("POST", "/api/sync"): SyncBody,
    ("POST", "/api/lms/register"): LmsRegisterBody,
    ("POST", "/api/lms/heartbeat"): LmsHeartbeatBody,
    ("POST", "/api/enrolments"): EnrolmentBody,
    ("PUT", "/api/agents/{agent_id}/tags"): AgentTagsBody,
    ("PUT", "/api/agents/{agent_id}/group"): AgentGroupBody,
    ("POST", "/api/agents/{agent_id}/move"): AgentMoveBody,
    ("PUT", "/api/agents/{agent_id}/settings"): AgentSettingsBody,
    ("POST", "/api/commands"): CreateCommandBody,
    ("POST", "/api/control/command"): ControlCommandBody,
    ("PUT", "/api/cctv/agents/{agent_id}/cameras/{camera_id}"): CameraConfigBody,
    ("POST", "/api/cctv/agents/{agent_id}/cameras/{camera_id}/snapshot"): SnapshotBody,
    ("POST", "/api/tokens"): CreateTokenBody,
}

QUERIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("GET", "/api/agents"): ("site_id", "status", "group", "tag", "pending", "limit", "cursor"),
    ("GET", "/api/lms"): ("limit", "cursor"),
    ("GET", "/api/lms/{site_id}/clients"): ("limit", "cursor"),
    ("GET", "/api/clients"): ("status", "limit", "cursor"),
    ("GET", "/api/agents/{agent_id}/commands"): ("limit", "cursor"),
    ("POST", "/api/commands"): ("wait",),
    ("GET", "/api/cctv/events"): ("agent_id", "day", "limit", "cursor"),
    ("GET", "/api/stats"): ("days",),
    ("GET", "/api/stats/sites/{site_id}"): ("days",),
    ("GET", "/api/audit"): ("since", "until", "limit", "cursor"),
    ("GET", "/api/tokens"): ("limit", "cursor"),
}

#: other success statuses of mutating routes
CREATED: dict[str, dict[str, str]] = {
    "/api/commands": {"202": "stored and published; poll GET /api/commands/{id}"},
    "/api/control/command": {"202": "stored and published"},
    "/api/enrolments": {"201": "created (the token is shown once)"},
    "/api/cctv/agents/{agent_id}/cameras/{camera_id}": {"201": "created"},
    "/api/tokens": {"201": "created (the token is shown once)"},
}

#: rate-limited routes: what their 429 means
LIMITED: dict[str, str] = {
    "/api/sync": "over the rate limit of changing uploads (per client uuid, per source address): nothing written",
}

_SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PUBLIC: [],
    Access.ENROLMENT: [{}, {"enrolmentToken": []}, {"lmsApiKey": []}],
    Access.LMS_KEY: [{"lmsApiKey": []}],
    Access.VIEWER: [{"apiToken": []}],
    Access.OPERATOR: [{"apiToken": []}],
    Access.ADMIN: [{"apiToken": []}],
}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"],
                             "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
}
_SUCCESS = {
    "type": "object",
    "required": ["success", "data"],
    "properties": {"success": {"const": True}, "data": {}, "message": {"type": "string"}},
}


def build_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        key = (route.method, route.path)
        operation: dict[str, Any] = {
            "operationId": _operation_id(route.method, route.path),
            "summary": route.summary,
            "tags": [route.tag],
            "x-access": route.access.value,
            "x-scope": route.scope.value,
            "security": _SECURITY[route.access],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", route.path)
            ] + [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                 for name in QUERIES.get(key, ())],
            "responses": _responses(route.access, route.method, route.path if route.method != "GET" else ""),
        }
        body = BODIES.get(key)
        if body is not None:
            operation["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body.__name__}"}}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    schemas: dict[str, Any] = {"Success": _SUCCESS, "Error": _ERROR}
    for model in sorted(set(BODIES.values()), key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "ClassTop Fleet cloud API", "version": __version__,
                 "description": "The central plane (one stack per tenant). See docs/api.md."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "apiToken": {"type": "http", "scheme": "bearer", "description": "API token (ctk_…) with a role"},
                "lmsApiKey": {"type": "http", "scheme": "bearer", "description": "a site's API key (ctl_…)"},
                "enrolmentToken": {"type": "http", "scheme": "bearer",
                                   "description": "one-time enrolment token (cte_…)"},
            },
        },
    }


def _responses(access: Access, method: str, path: str) -> dict[str, Any]:
    ok = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Success"}}}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out: dict[str, Any] = {"200": {"description": "success", **ok}}
    for status, description in CREATED.get(path, {}).items():
        out[status] = {"description": description, **ok}
    if method != "GET" or access is not Access.PUBLIC:
        out["400"] = {"description": "bad request (the message names the field)", **error}
    if access is not Access.PUBLIC:
        out["401"] = {"description": "missing or unknown credentials", **error}
    out["403"] = {"description": "role, site scope (x-scope) or admission policy refuses", **error}
    out["404"] = {"description": "unknown resource (or another site's, for a token scoped to sites)", **error}
    if method != "GET":
        out["409"] = {"description": "conflict", **error}
        out["413"] = {"description": "body too large", **error}
    if path in LIMITED:
        out["429"] = {"description": LIMITED[path], **error}
    return out


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[/{}_]+", path.removeprefix("/api/")) if w]
    return method.lower() + "".join(w.capitalize() for w in words)
