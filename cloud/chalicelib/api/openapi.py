"""The OpenAPI 3.1 document of the cloud API, built from the route declarations (:data:`chalicelib.api.ROUTES`:
``x-access`` and ``x-scope`` of each operation, its summary, tag, query parameters, request body and answers).
``docs/openapi.json`` is this document (``python cloud/manage.py openapi > docs/openapi.json``); a test keeps the
two, and the app's routes, in step."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib import __version__
from chalicelib.api import ROUTES
from chalicelib.api.routes import Access, Route
from shared.json_schema import require_discriminator_tags
from shared.topics import ID_PATTERN

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
_CHALICE_ERROR = {"type": "object", "required": ["Code", "Message"],
                  "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}}}
_SUCCESS = {
    "type": "object",
    "required": ["success", "data"],
    "properties": {"success": {"const": True}, "data": {}, "message": {"type": "string"}},
}


def build_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "operationId": _operation_id(route.method, route.path),
            "summary": route.summary,
            "tags": [route.tag],
            "x-access": route.access.value,
            "x-scope": route.scope.value,
            "security": _SECURITY[route.access],
            "parameters": [_path_parameter(route, name) for name in route.path_params]
            + [query.document() for query in route.query],
            "responses": _responses(route),
        }
        if route.body is not None:
            operation["requestBody"] = {"required": not route.body_optional, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    schemas: dict[str, Any] = {"Success": _SUCCESS, "Error": _ERROR, "ChaliceError": _CHALICE_ERROR}
    bodies: set[type[BaseModel]] = {route.body for route in ROUTES if route.body is not None}
    for model in sorted(bodies, key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        extra = getattr(model, "openapi_extra", None)
        if extra is not None:
            schema.update(extra())
        schemas[model.__name__] = _hoist_defs(schema, schemas)
    require_discriminator_tags(schemas)
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


def _hoist_defs(node: Any, into: dict[str, Any]) -> Any:
    """``node`` without its ``$defs`` (at any depth: a body's schema may embed another model's), each moved into
    ``into`` (the document's components, which every ``$ref`` names)."""
    if isinstance(node, dict):
        for name, definition in node.pop("$defs", {}).items():
            into[name] = _hoist_defs(definition, into)
        return {key: _hoist_defs(value, into) for key, value in node.items()}
    if isinstance(node, list):
        return [_hoist_defs(value, into) for value in node]
    return node


def _path_parameter(route: Route, name: str) -> dict[str, Any]:
    """A path parameter: an id (``shared.topics.ID_PATTERN``, checked before anything else), a value of the route's
    own ``path_pattern`` (checked likewise), or one the route looks up itself (``check_ids=False``: anything else is
    a 404)."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if route.path_pattern is not None:
        schema = {"type": "string", "pattern": route.path_pattern}
    elif route.check_ids:
        schema = {"type": "string", "pattern": ID_PATTERN}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _responses(route: Route) -> dict[str, Any]:
    ok = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Success"}}}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out: dict[str, Any] = {"200": {"description": "success", **ok}}
    # a public GET reads no body and no credentials; one whose path holds ids answers 400 to an invalid one
    if (route.body is not None or route.query or route.access is not Access.PUBLIC
            or ((route.check_ids or route.path_pattern) and route.path_params)):
        out["400"] = {"description": "bad request (the message names the field)", **error}
    if route.access is not Access.PUBLIC:
        out["401"] = {"description": "missing or unknown credentials", **error}
    out["403"] = {"description": "role, site scope (x-scope) or admission policy refuses", **error}
    out["404"] = {"description": "unknown resource (or another site's, for a token scoped to sites)", **error}
    if route.method != "GET":
        out["409"] = {"description": "conflict with what is stored (an id taken, a state that forbids it)", **error}
    if route.body is not None:
        out["413"] = {"description": "body over the size limit", **error}
    # Chalice's own answer, before the route: a Content-Type other than application/json (a body or none)
    out["415"] = {"description": "Content-Type is not application/json (Chalice's answer: Code, Message)",
                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChaliceError"}}}}
    out["500"] = {"description": "internal error (logged)", **error}
    out["502"] = {"description": "an AWS service the cloud depends on failed", **error}
    for status, description in route.responses.items():
        out[status] = {"description": description, **(ok if status < "400" else error)}
    for link in route.links:
        target = _operation_id(link.method, link.path)
        out[link.status].setdefault("links", {})[target] = {"operationId": target,
                                                            "parameters": dict(link.parameters)}
    return dict(sorted(out.items()))


def _operation_id(method: str, path: str) -> str:
    words = [w for w in re.split(r"[/{}_]+", path.removeprefix("/api/")) if w]
    return method.lower() + "".join(w.capitalize() for w in words)
