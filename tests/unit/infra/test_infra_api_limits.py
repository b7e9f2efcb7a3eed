"""API Gateway in front of the cloud API: throttled, logged, bounded (issue 11, item 6), and an HTTP API (issue 18).

Checked on template.yaml after AWS's SAM translator (the API Gateway stage and Lambda functions CloudFormation
would create): an HTTP API, not Chalice's REST API, with one route per route of the Chalice app to one Lambda
integration of payload format 1.0; stage-wide throttling with tighter limits on every route that takes no
credentials; access logs to a log group that expires; reserved concurrency on every function; the API function's
timeout below the integration's, and ``?wait=`` below that with room for the work around it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.api import ROUTES
from chalicelib.api.routes import Access
from chalicelib.services.commands import MAX_WAIT_S
from infra.aws import cloud_app, http_api, site_hosting
from infra.aws.cloud_app import API_HANDLER
from tests.unit.infra.stack_templates import translated

#: what a ``?wait=`` call does besides waiting (authenticate, store and publish the command, answer)
WAIT_HEADROOM_S = 5
ANONYMOUS = (Access.PUBLIC, Access.ENROLMENT)
ACCESS_LOG_FIELDS = ("$context.apiId", "$context.requestId", "$context.identity.sourceIp", "$context.httpMethod",
                     "$context.routeKey", "$context.status", "$context.requestTime")


def route_key(method: str, path: str) -> str:
    return f"{method} {path}"


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = of_type(template, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return dict(next(iter(found.values()))["Properties"])


def app_routes() -> set[tuple[str, str]]:
    return {(method, path) for path, methods in cloud_app.chalice_app().routes.items() for method in methods}


def test_the_api_is_an_http_api_with_a_route_per_chalice_route() -> None:
    template = translated()
    rest = {lid: r for lid, r in template["Resources"].items() if r["Type"].startswith("AWS::ApiGateway::")}
    assert rest, "the legacy REST API is gone: deployed tenants' sites would lose their URL at the update"
    for lid, resource in rest.items():  # a REST API ($3.50 per million) only while a tenant asks for it
        assert resource.get("Condition") == http_api.LEGACY_CONDITION, lid
    assert template["Parameters"][http_api.LEGACY_PARAMETER]["Default"] == "false"
    api = only(template, "AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP"

    # one integration, the API function, in the payload format Chalice reads (requestContext.resourcePath)
    integration = only(template, "AWS::ApiGatewayV2::Integration")
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "1.0"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [API_HANDLER, "Arn"]}

    # exactly the app's routes, each its own (a catch-all would hand Chalice the resource path "/{proxy+}")
    routes = of_type(template, "AWS::ApiGatewayV2::Route").values()
    keys = [r["Properties"]["RouteKey"] for r in routes]
    assert sorted(keys) == sorted(route_key(m, p) for m, p in app_routes())
    assert len(keys) == len(set(keys))
    integration_id = next(iter(of_type(template, "AWS::ApiGatewayV2::Integration")))
    for route in routes:
        assert route["Properties"]["Target"] == {"Fn::Sub": f"integrations/${{{integration_id}}}"}
        assert route["Properties"]["AuthorizationType"] == "NONE"  # the app authenticates every call

    # API Gateway may invoke the API function from this API only
    permissions = [p["Properties"] for p in of_type(template, "AWS::Lambda::Permission").values()
                   if p["Properties"]["Principal"] == "apigateway.amazonaws.com" and "Condition" not in p]
    assert [p["FunctionName"] for p in permissions] == [{"Ref": API_HANDLER}]
    assert "${HttpApi}/*" in permissions[0]["SourceArn"]["Fn::Sub"]

    # CloudFront's /api/* origin is this API's stage; the output names its URL
    distribution = template["Resources"][site_hosting.DISTRIBUTION]["Properties"]["DistributionConfig"]
    [origin] = [o for o in distribution["Origins"] if o["Id"] == "api"]
    assert origin["DomainName"] == {"Fn::Sub": f"${{{http_api.HTTP_API}}}.execute-api.${{AWS::Region}}.amazonaws.com"}
    assert origin["OriginPath"] == f"/{cloud_app.api_gateway_stage()}"
    assert "${HttpApi}.execute-api" in template["Outputs"]["EndpointURL"]["Value"]["Fn::Sub"]


def test_api_gateway_throttles_and_logs() -> None:
    template = translated()
    stage = only(template, "AWS::ApiGatewayV2::Stage")
    assert stage["StageName"] == cloud_app.api_gateway_stage() and stage["AutoDeploy"] is True
    [stage_id] = of_type(template, "AWS::ApiGatewayV2::Stage")
    routes = of_type(template, "AWS::ApiGatewayV2::Route")
    # route settings name existing routes only: the stage is created after every route
    assert set(template["Resources"][stage_id]["DependsOn"]) == set(routes)

    # throttling: the whole stage, and tighter on each route anyone may call
    everything = stage.get("DefaultRouteSettings")
    assert everything, "no stage-wide throttling"
    rate, burst = everything["ThrottlingRateLimit"], everything["ThrottlingBurstLimit"]
    assert rate > 0 and burst > 0
    settings = stage.get("RouteSettings", {})
    public_writes = [r for r in ROUTES if r.access in ANONYMOUS and r.method != "GET"]
    assert {(r.method, r.path) for r in public_writes} >= {
        ("POST", "/api/sync"), ("POST", "/api/clients/register"), ("POST", "/api/lms/register")}
    for route in [r for r in ROUTES if r.access in ANONYMOUS]:
        limit = settings.get(route_key(route.method, route.path))
        assert limit, f"{route.method} {route.path} takes no credentials and has no throttling of its own"
        assert limit["ThrottlingRateLimit"] < rate and limit["ThrottlingBurstLimit"] < burst, route.path
    keys = {r["Properties"]["RouteKey"] for r in routes.values()}
    assert set(settings) <= keys, set(settings) - keys  # every setting names a route of the API

    # access logs: one JSON line per request to a log group that expires
    logs = stage.get("AccessLogSettings")
    assert logs, "no access logging"
    destination = logs["DestinationArn"]
    target = re.search(r":log-group:\$\{(\w+)\}$", destination["Fn::Sub"]).group(1)  # type: ignore[union-attr]
    group = template["Resources"][target]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"].get("RetentionInDays")
    assert all(field in logs["Format"] for field in ACCESS_LOG_FIELDS), logs["Format"]
    assert "$context.resourcePath" not in logs["Format"]  # a REST API's variable: empty in an HTTP API's log

    # every function: a bounded share of the account's concurrency
    functions = of_type(template, "AWS::Lambda::Function")
    for lid, function in functions.items():
        assert function["Properties"].get("ReservedConcurrentExecutions", 0) >= 1, f"{lid}: no reserved concurrency"

    # the API function gives up before the integration does, and ?wait= leaves room for the rest of the call
    api_timeout = functions[API_HANDLER]["Properties"]["Timeout"]
    integration = only(template, "AWS::ApiGatewayV2::Integration")
    assert api_timeout * 1000 < integration["TimeoutInMillis"] <= 30_000, "an HTTP API waits 30 s at most"
    assert api_timeout >= MAX_WAIT_S + WAIT_HEADROOM_S, f"?wait={MAX_WAIT_S} leaves no room in {api_timeout} s"


def test_the_legacy_rest_api_keeps_its_throttles_and_access_log() -> None:
    """While a tenant keeps the REST API of earlier releases, its anonymous routes stay throttled and logged."""
    template = translated()
    stages = of_type(template, "AWS::ApiGateway::Stage")
    assert len(stages) == 1
    stage = next(iter(stages.values()))
    assert stage["Condition"] == http_api.LEGACY_CONDITION
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]}
    everything = settings[("/*", "*")]
    for route in [r for r in ROUTES if r.access in ANONYMOUS]:
        limit = settings.get(("/" + route.path.replace("/", "~1"), route.method))
        assert limit, f"{route.method} {route.path} takes no credentials and has no throttling of its own"
        assert limit["ThrottlingRateLimit"] < everything["ThrottlingRateLimit"], route.path
        assert limit.get("LoggingLevel", "OFF") == "OFF"
    logs = stage["Properties"]["AccessLogSetting"]
    assert '"routeKey":"$context.httpMethod $context.resourcePath"' in logs["Format"]  # the HTTP API's key
    permissions = [p for p in of_type(template, "AWS::Lambda::Permission").values()
                   if "${RestAPI}/*" in json.dumps(p["Properties"]["SourceArn"])]
    assert [p.get("Condition") for p in permissions] == [http_api.LEGACY_CONDITION]
