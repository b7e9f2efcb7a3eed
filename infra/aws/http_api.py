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

After ``chalice package``, :func:`drop_rest_api` removes Chalice's ``RestAPI`` and its ``RestAPIId`` output, and
fails the build if anything still refers to the REST API.
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
#: what Chalice generates and the build removes
REST_API = "RestAPI"
REST_API_OUTPUT = "RestAPIId"
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
    return result


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
    }


def drop_rest_api(template: dict[str, Any]) -> None:
    """Remove Chalice's REST API (and its output) from the packaged ``template``; fail if anything still refers to
    it, or if the HTTP API is missing."""
    resources_ = template.get("Resources", {})
    if HTTP_API not in resources_:
        raise BuildError(f"the packaged template has no {HTTP_API}: the merge template did not add the HTTP API")
    resources_.pop(REST_API, None)
    template.get("Outputs", {}).pop(REST_API_OUTPUT, None)
    text = json.dumps(template)
    for needle in (f'"{REST_API}"', f"${{{REST_API}}}", f"${{{REST_API}.", "AWS::Serverless::Api", "AWS::ApiGateway::"):
        if needle in text:
            raise BuildError(f"the template still refers to Chalice's REST API ({needle})")
