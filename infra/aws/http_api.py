"""The cloud API as an API Gateway **HTTP API** in place of the REST API Chalice generates (issue 18: an HTTP API
is $1.00 per million requests, a REST API $3.50; docs/deploy.md, "The API: an HTTP API").

Chalice (1.34) emits only a REST API (``RestAPI``, an ``AWS::Serverless::Api`` with a swagger body). The merge
template adds, from the Chalice app's own route table:

* ``HttpApi`` (``AWS::ApiGatewayV2::Api``, protocol HTTP);
* one ``AWS_PROXY`` integration of the API function with **payload format 1.0** - Chalice routes on
  ``requestContext.resourcePath`` and ``requestContext.httpMethod`` and reads ``multiValueQueryStringParameters``,
  which format 2.0 does not carry;
* **one route per (method, path) of the app** - a catch-all ``ANY /{proxy+}`` route would hand Chalice the
  resource path ``/{proxy+}``, which is no route of it;
* the stage :func:`infra.aws.cloud_app.api_gateway_stage` (``api``, so URLs keep their shape), deployed
  automatically, with the throttles and access log of :mod:`infra.aws.api_stage`; it depends on every route
  (API Gateway refuses settings of a route that does not exist yet);
* the API function's invoke permission and the ``EndpointURL`` output re-pointed at it.

Chalice's ``RestAPI`` stays in the template under the condition :data:`LEGACY_CONDITION` (parameter
:data:`LEGACY_PARAMETER`, default ``false``): a tenant deployed before the HTTP API keeps its old URL working,
throttled and logged as before, while its sites move to the new one (docs/deploy.md, "Upgrade notes"); then an
update without it deletes the REST API. After ``chalice package``, :func:`check_rest_api` fails the build if
anything not under that condition still refers to the REST API.
"""

from __future__ import annotations

import json
from typing import Any

from infra.aws import api_stage, cloud_app, data_plane
from infra.aws.cfn import Json, get_att, logical_id, ref, sub
from infra.aws.errors import BuildError

HTTP_API = "HttpApi"
INTEGRATION = "HttpApiIntegration"
STAGE = "HttpApiStage"
#: what Chalice generates, kept only under LEGACY_CONDITION
REST_API = "RestAPI"
REST_API_OUTPUT = "RestAPIId"
REST_API_PERMISSION = "RestAPIInvokePermission"
LEGACY_ENDPOINT_OUTPUT = "LegacyEndpointURL"
LEGACY_PARAMETER = "LegacyRestApi"
LEGACY_CONDITION = "KeepsLegacyRestApi"
#: Chalice's names of the API function's invoke permission and of the API's URL output
INVOKE_PERMISSION = f"{cloud_app.API_HANDLER}InvokePermission"
ENDPOINT_OUTPUT = "EndpointURL"
PAYLOAD_FORMAT_VERSION = "1.0"
#: the integration gives up here (an HTTP API allows 30 s); the API function stops earlier (its Timeout)
INTEGRATION_TIMEOUT_MS = 29_000
#: an HTTP API takes at most 300 routes (API Gateway's quota)
MAX_ROUTES = 300


def routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the Chalice app, sorted by path then method."""
    app = cloud_app.chalice_app()
    found = sorted(
        ((method, path) for path, methods in app.routes.items() for method in methods), key=lambda r: (r[1], r[0])
    )
    if len(found) > MAX_ROUTES:
        raise BuildError(f"the app has {len(found)} routes, an HTTP API takes {MAX_ROUTES}")
    return found


def route_logical_id(method: str, path: str) -> str:
    """``GET /api/clients/{client_uuid}/courses`` -> ``HttpRouteGetApiClientsClientUuidCourses``."""
    return logical_id("http_route", method.lower(), path)


def _route(method: str, path: str) -> Json:
    return {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "ApiId": ref(HTTP_API),
            "RouteKey": api_stage.route_key(method, path),
            "AuthorizationType": "NONE",  # the app authenticates every call itself (bearer tokens)
            "Target": sub(f"integrations/${{{INTEGRATION}}}"),
        },
    }


def resources(function_id: str = cloud_app.API_HANDLER) -> Json:
    """The HTTP API, its integration, routes and stage, and the overrides of Chalice's permission."""
    table = routes()
    route_ids = [route_logical_id(method, path) for method, path in table]
    if len(set(route_ids)) != len(route_ids):
        raise BuildError("two routes of the app get the same logical id")
    result: Json = {
        HTTP_API: {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": api_stage.api_name(),
                "ProtocolType": "HTTP",
                "Description": sub("ClassTop ${TenantId} ${Stage}: the cloud API"),
                "Tags": {tag["Key"]: tag["Value"] for tag in data_plane.tags()},
            },
        },
        INTEGRATION: {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": ref(HTTP_API),
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": get_att(function_id, "Arn"),
                "PayloadFormatVersion": PAYLOAD_FORMAT_VERSION,
                "TimeoutInMillis": INTEGRATION_TIMEOUT_MS,
            },
        },
        STAGE: {
            "Type": "AWS::ApiGatewayV2::Stage",
            "DependsOn": route_ids,
            "Properties": {
                "ApiId": ref(HTTP_API),
                "StageName": cloud_app.api_gateway_stage(),
                "AutoDeploy": True,
                "DefaultRouteSettings": api_stage.default_route_settings(),
                "RouteSettings": api_stage.route_settings(),
                "AccessLogSettings": api_stage.access_log_settings(),
            },
        },
        # Chalice's permission, re-pointed (the deep merge replaces its SourceArn)
        INVOKE_PERMISSION: {
            "Properties": {
                "SourceArn": sub(
                    f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{HTTP_API}}}/*"
                ),
            }
        },
    }
    for (method, path), lid in zip(table, route_ids, strict=True):
        result[lid] = _route(method, path)
    result.update(_legacy_rest_api(function_id))
    return result


def _legacy_rest_api(function_id: str) -> Json:
    """Chalice's REST API, kept under :data:`LEGACY_CONDITION` with its throttles and access log, and its own
    invoke permission (Chalice's now serves the HTTP API)."""
    return {
        REST_API: {"Condition": LEGACY_CONDITION, "Properties": api_stage.rest_api_properties()},
        REST_API_PERMISSION: {
            "Type": "AWS::Lambda::Permission",
            "Condition": LEGACY_CONDITION,
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref(function_id),
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": sub(
                    f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{REST_API}}}/*"
                ),
            },
        },
    }


def parameter() -> Json:
    return {
        "Type": "String",
        "Default": "false",
        "AllowedValues": ["false", "true"],
        "Description": "Keep the REST API of releases before the HTTP API (its URL: output LegacyEndpointURL) while "
        "sites still use it: docs/deploy.md, Upgrade notes",
    }


def conditions() -> Json:
    return {LEGACY_CONDITION: {"Fn::Equals": [ref(LEGACY_PARAMETER), "true"]}}


def outputs() -> Json:
    return {
        ENDPOINT_OUTPUT: {
            "Description": "The cloud API (its routes start with /api/ too)",
            "Value": sub(
                f"https://${{{HTTP_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/"
                f"{cloud_app.api_gateway_stage()}/"
            ),
        },
        "HttpApiId": {"Value": ref(HTTP_API)},
        REST_API_OUTPUT: {"Condition": LEGACY_CONDITION},  # merged into Chalice's output
        LEGACY_ENDPOINT_OUTPUT: {
            "Description": "The REST API of earlier releases, while it is kept (parameter LegacyRestApi)",
            "Condition": LEGACY_CONDITION,
            "Value": sub(
                f"https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/"
                f"{cloud_app.api_gateway_stage()}/"
            ),
        },
    }


def check_rest_api(template: dict[str, Any]) -> None:
    """Fail unless the packaged ``template`` has the HTTP API, and Chalice's REST API - and everything that refers
    to it - only under :data:`LEGACY_CONDITION` (a reference outside it would break the stack without it)."""
    resources_ = template.get("Resources", {})
    if HTTP_API not in resources_:
        raise BuildError(f"the packaged template has no {HTTP_API}: the merge template did not add the HTTP API")
    needles = (f'"{REST_API}"', f"${{{REST_API}}}", f"${{{REST_API}.")
    for section in ("Resources", "Outputs"):
        for name, entry in template.get(section, {}).items():
            refers = name == REST_API or any(n in json.dumps(entry) for n in needles)
            if refers and entry.get("Condition") != LEGACY_CONDITION:
                raise BuildError(
                    f"{section} {name} refers to Chalice's REST API but is not under the condition {LEGACY_CONDITION}"
                )
