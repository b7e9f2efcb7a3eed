"""The LMS's OpenAPI document (``GET /openapi.json``): what each route takes, every status it answers, its security.

Routes declare what is theirs (``responses=errors(404, 409)``, the command-backed routes ``COMMAND_ERRORS``);
:func:`install_openapi` adds what follows from the route's shape, once for all of them:

* a route behind a bearer token (its operation has ``security``): 401 ``unauthorized`` and 403 ``forbidden``;
* a route with parameters or a body: 422 ``bad_payload`` (the LMS's error body, not FastAPI's
  ``HTTPValidationError``, which it never sends: :mod:`edge.lms.api.errors` answers every validation error);
* a route with a body: 400 ``bad_json`` and 413 ``payload_too_large``.

Every error is the one :class:`ErrorBody` (``components/schemas/ErrorBody``); a command-backed error also carries
the command reply's fields (``request_id``, ``status``, ``data``). ``tests/fuzz/test_fuzz_lms_openapi.py`` checks
the document against a running LMS with schemathesis (docs/api.md#the-lmss-openapi-document).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.lms.api.command_requests import CLOUD_ONLY_PARAMS
from edge.lms.legacy.protocol import CAMERA_COMMANDS as CLASSTOP_ONLY_COMMANDS
from shared.commands import CATALOGUE
from shared.errors import ErrorCode
from shared.json_schema import require_discriminator_tags
from shared.messages.alert import CLOUD_ONLY_CONDITIONS

ERROR_SCHEMA = "ErrorBody"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}


class ErrorBody(BaseModel):
    """Every error the LMS answers (:func:`edge.lms.api.errors.error_body`); a command-backed error adds the command
    reply's ``request_id``, ``status`` and ``data``."""

    model_config = ConfigDict(extra="allow")

    success: Literal[False]
    error: str = Field(description="what went wrong, for a person")
    error_code: ErrorCode = Field(description="what went wrong, for a program")
    detail: str = Field(description="the same as error (FastAPI clients read detail)")


#: What each error status means on this API (the response's description in the document).
STATUS_TEXT = {
    400: "bad_json: the body is not JSON (or nests too deeply)",
    401: "unauthorized: no valid credentials",
    403: "forbidden: the caller's role, or the site's policy, does not allow it",
    404: "not_found / unknown_agent: no such thing",
    409: "conflict: not in a state that allows it (agent offline, feature not set up, already done)",
    413: "payload_too_large: the body (or the command) is over the limit",
    415: "bad_payload: the body is not sent as application/json",
    422: "bad_payload / invalid_params: the request does not match the schema, or the values are not allowed",
    429: "rate_limited: too many requests from this address (see Retry-After)",
    500: "internal: the LMS failed (see its log)",
    501: "not_supported: the feature is off in this LMS's configuration",
    502: "the agent's (or the broker's) answer was not usable",
    503: "busy: the LMS or the agent cannot take it now (retry)",
    504: "timeout: the agent did not answer in time",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each of ``statuses`` answered with the LMS's :class:`ErrorBody`."""
    return {status: _error_response(status) for status in statuses}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": STATUS_TEXT[status],
        "content": {"application/json": {"schema": dict(_ERROR_REF)}},
    }
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


#: What a command-backed route answers (edge.lms.api.command_replies): 200 when the agent answered (``success``
#: says how it went), 202 when the command was queued for an offline agent, else the status of why the LMS ended it.
COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "queued: the agent is offline; the command is delivered when it comes back"},
    **errors(404, 409, 413, 503, 504),
}


def _add(operation: dict[str, Any], *statuses: int) -> None:
    responses = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(str(status), _error_response(status))


#: The request bodies that carry a catalogue command (``command`` + ``params``).
COMMAND_BODIES = ("CommandRequest", "BatchRequest")


def _command_variants(schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One schema per command a caller may send (not the LMS's own nor the shadow's): its name and its params
    (without the parameters only the cloud sets); the models they use are added to ``schemas``."""
    variants = []
    for spec in CATALOGUE.values():
        if spec.shadow_only or spec.lms_only:
            continue
        params = spec.params.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in params.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        for cloud_only in CLOUD_ONLY_PARAMS.get(spec.name, ()):
            params.get("properties", {}).pop(cloud_only, None)
        try:
            spec.params.model_validate({})
            required = ["command"]
        except ValidationError:
            required = ["command", "params"]
        variants.append({"properties": {"command": {"const": spec.name}, "params": params}, "required": required})
    for name in sorted(CLASSTOP_ONLY_COMMANDS):  # run by the ClassTop client itself: its params are its own
        variants.append({"properties": {"command": {"const": name}, "params": {"type": "object"}},
                         "required": ["command"], "description": "ClassTop desktop clients only"})  # fmt: skip
    return variants


#: What the validators of a request body check beyond its fields' own, where JSON Schema can say it (merged into the
#: body's schema): a silence names a rule, an agent or both; a maintenance window and a site rule cover this site
#: only, and a site rule's condition is one an LMS evaluates (``AlertRule`` is a request body only here). What it
#: cannot say (a window ends after it starts and within 7 days; a scope names this site's agents, groups and tags)
#: the routes answer with a 422 saying so.
_THIS_SITE_ONLY = {"properties": {"sites": {"type": "null"}}}
_BODY_RULES: dict[str, dict[str, Any]] = {
    "AlertRule": {"properties": {
        "scope": _THIS_SITE_ONLY,
        "condition": {"properties": {"kind": {"not": {"enum": sorted(CLOUD_ONLY_CONDITIONS)}}}},
    }},
    "SilenceBody": {"anyOf": [{"required": ["rule_id"], "properties": {"rule_id": {"type": "string"}}},
                              {"required": ["agent_id"], "properties": {"agent_id": {"type": "string"}}}]},
    "MaintenanceBody": {"properties": {"scope": _THIS_SITE_ONLY}},
}


def _merge(schema: dict[str, Any], extra: dict[str, Any]) -> None:
    """``extra``'s keywords into ``schema``: a property's schema becomes ``allOf`` [what it was, ``extra``'s]."""
    for key, value in extra.items():
        if key == "properties":
            for name, rule in value.items():
                given = schema.setdefault("properties", {}).get(name)
                schema["properties"][name] = rule if given is None else {"allOf": [given, rule]}
        else:
            schema[key] = value


def _document(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for body in COMMAND_BODIES:
        if body in schemas:  # the params each command takes (shared.commands.CATALOGUE), as the LMS checks them
            schemas[body]["oneOf"] = _command_variants(schemas)
    schemas[ERROR_SCHEMA] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schemas[ERROR_SCHEMA].pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            validation = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if validation.get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]  # FastAPI's default; the LMS answers its own ErrorBody instead
            if operation.get("security"):
                _add(operation, 401, 403)
            if operation.get("parameters") or operation.get("requestBody"):
                _add(operation, 422)
            if operation.get("requestBody"):
                _add(operation, 400, 413)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    require_discriminator_tags(schemas)
    for name, extra in _BODY_RULES.items():
        if name in schemas:
            _merge(schemas[name], extra)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document (built once, on the first ``GET /openapi.json``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version,
                description=app.description, routes=app.routes,
            ))  # fmt: skip
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
