"""The API Gateway stage in front of the cloud API: throttling and access logs (of the HTTP API's stage,
:mod:`infra.aws.http_api`).

Throttling (requests per second, steady ``rate`` and ``burst``) is set for the whole stage and, tighter, for every
route that takes no credentials (``chalicelib.api.ROUTES``: ``public`` and ``enrolment``) - anyone on the
internet can call those, so they get a budget of their own that a flood cannot exceed. API Gateway answers 429
beyond it, before any Lambda runs. Execution logging stays off (its log group is made by API Gateway with no
expiry); the access log - one JSON line per request - goes to the stack's own expiring log group. An HTTP API
writes it through CloudWatch Logs' log delivery, not the account's API Gateway CloudWatch role (which the deploy
tool still sets when it is missing: ``infra.aws.tenants``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from infra.aws import cloud_app
from infra.aws.cfn import Json, name_sub, sub
from infra.aws.errors import BuildError
from infra.aws.logs import API_ACCESS_LOGS


@dataclass(frozen=True, slots=True)
class Throttle:
    rate: float  # requests per second, steady
    burst: int  # requests at once


#: the whole stage: what the tenant's people and sites need, far below the account's 10,000/s
STAGE_THROTTLE = Throttle(rate=50, burst=100)
#: a route without credentials that writes (registrations): rare in normal use
PUBLIC_WRITE_THROTTLE = Throttle(rate=2, burst=5)
#: a route without credentials that reads (health, a ClassTop client's own data)
PUBLIC_READ_THROTTLE = Throttle(rate=10, burst=20)
#: ClassTop clients sync every 300 s (docs/classtop.md): 20/s serves ~6,000 clients
ROUTE_THROTTLES: dict[tuple[str, str], Throttle] = {("POST", "/api/sync"): Throttle(rate=20, burst=40)}
ACCESS_LOG_FIELDS = {
    "apiId": "$context.apiId",  # which API: the HTTP API, or the REST API a tenant keeps while sites move
    "requestId": "$context.requestId",
    "sourceIp": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",  # "POST /api/sync": an HTTP API has no $context.resourcePath
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "userAgent": "$context.identity.userAgent",
    "error": "$context.error.message",
}


def route_key(method: str, path: str) -> str:
    """A route as an HTTP API names it: ``POST /api/sync``."""
    return f"{method} {path}"


def _setting(throttle: Throttle) -> Json:
    return {"ThrottlingRateLimit": throttle.rate, "ThrottlingBurstLimit": throttle.burst,
            "DetailedMetricsEnabled": False}


def anonymous_routes() -> list[tuple[str, str]]:
    """(method, path) of every route that takes no credentials, checked against the app's routes."""
    cloud_app.ensure_importable()
    from chalicelib.api import ROUTES
    from chalicelib.api.routes import Access

    app_routes = {(method, path) for path, methods in cloud_app.chalice_app().routes.items() for method in methods}
    found = [(r.method, r.path) for r in ROUTES if r.access in (Access.PUBLIC, Access.ENROLMENT)]
    missing = [f"{m} {p}" for m, p in found if (m, p) not in app_routes]
    if missing:
        raise BuildError(f"chalicelib.api.ROUTES lists routes the app does not have: {', '.join(missing)}")
    return sorted(found, key=lambda r: (r[1], r[0]))


def default_route_settings() -> Json:
    """The whole stage's throttle (every route without one of its own)."""
    return _setting(STAGE_THROTTLE)


def route_throttles() -> list[tuple[str, str, Throttle]]:
    """(method, path, throttle) of every route that takes no credentials, each below the stage's."""
    for throttle in [PUBLIC_READ_THROTTLE, PUBLIC_WRITE_THROTTLE, *ROUTE_THROTTLES.values()]:
        if throttle.rate >= STAGE_THROTTLE.rate or throttle.burst >= STAGE_THROTTLE.burst:
            raise BuildError(f"a route's throttle {throttle} is not below the stage's {STAGE_THROTTLE}")
    found = []
    for method, path in anonymous_routes():
        default = PUBLIC_READ_THROTTLE if method == "GET" else PUBLIC_WRITE_THROTTLE
        found.append((method, path, ROUTE_THROTTLES.get((method, path), default)))
    return found


def route_settings() -> Json:
    """An HTTP API stage's ``RouteSettings``: route key -> throttle."""
    return {route_key(method, path): _setting(throttle) for method, path, throttle in route_throttles()}


def api_name() -> Json:
    return name_sub("api")


def access_log_settings(fields: dict[str, str] = ACCESS_LOG_FIELDS) -> Json:
    return {
        # the group's ARN without the ":*" of its Arn attribute
        "DestinationArn": sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:"
                              f"${{{API_ACCESS_LOGS}}}"),
        "Format": json.dumps(fields, separators=(",", ":")),
    }


# ---------------------------------------------------------------- the REST API Chalice generates (legacy)
#: the REST API's line: the same keys, ``routeKey`` made of what a REST API knows
REST_ACCESS_LOG_FIELDS = {**ACCESS_LOG_FIELDS, "routeKey": "$context.httpMethod $context.resourcePath"}


def method_path(path: str) -> str:
    """A route as a REST API's method settings name it: ``/api/sync`` -> ``/~1api~1sync``."""
    return "/" + path.replace("/", "~1")


def method_settings() -> list[Json]:
    """A REST API stage's ``MethodSettings``: the same throttles as :func:`route_settings`."""
    def setting(path: str, method: str, throttle: Throttle) -> Json:
        return {"ResourcePath": path, "HttpMethod": method, "ThrottlingRateLimit": throttle.rate,
                "ThrottlingBurstLimit": throttle.burst, "LoggingLevel": "OFF", "MetricsEnabled": False}

    return [setting("/*", "*", STAGE_THROTTLE),
            *(setting(method_path(path), method, throttle) for method, path, throttle in route_throttles())]


def rest_api_properties() -> Json:
    """Merged into Chalice's ``AWS::Serverless::Api`` while it is kept (:mod:`infra.aws.http_api`)."""
    return {"Name": api_name(), "MethodSettings": method_settings(),
            "AccessLogSetting": access_log_settings(REST_ACCESS_LOG_FIELDS)}
