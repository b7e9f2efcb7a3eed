"""API Gateway in front of the cloud API: throttled, logged, bounded (issue 11, item 6).

Checked on template.yaml after AWS's SAM translator (the API Gateway stage and Lambda functions CloudFormation
would create): stage-wide throttling with tighter limits on every route that takes no credentials and writes;
access logs to a log group that expires; reserved concurrency on every function; the API function's timeout
below API Gateway's integration timeout, and ``?wait=`` below that with room for the work around it.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.api import ROUTES
from chalicelib.api.routes import Access
from chalicelib.services.commands import MAX_WAIT_S
from infra.aws.cloud_app import API_HANDLER
from tests.unit.infra.stack_templates import translated

#: API Gateway ends a REST API integration at 29 s (its default and maximum timeoutInMillis)
API_GATEWAY_TIMEOUT_S = 29
#: what a ``?wait=`` call does besides waiting (authenticate, store and publish the command, answer)
WAIT_HEADROOM_S = 5
ANONYMOUS = (Access.PUBLIC, Access.ENROLMENT)
ACCESS_LOG_FIELDS = ("$context.requestId", "$context.identity.sourceIp", "$context.httpMethod",
                     "$context.resourcePath", "$context.status", "$context.requestTime")


def method_path(path: str) -> str:
    """A route as API Gateway's MethodSettings name it: ``/api/sync`` -> ``/~1api~1sync``."""
    return "/" + path.replace("/", "~1")


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def test_api_gateway_throttles_and_logs() -> None:
    template = translated()
    stages = of_type(template, "AWS::ApiGateway::Stage")
    assert len(stages) == 1
    stage = next(iter(stages.values()))["Properties"]

    # throttling: the whole stage, and tighter on each route anyone may call that writes
    settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage.get("MethodSettings", [])}
    everything = settings.get(("/*", "*"))
    assert everything, "no stage-wide throttling"
    rate, burst = everything["ThrottlingRateLimit"], everything["ThrottlingBurstLimit"]
    assert rate > 0 and burst > 0
    public_writes = [r for r in ROUTES if r.access in ANONYMOUS and r.method != "GET"]
    assert {(r.method, r.path) for r in public_writes} >= {
        ("POST", "/api/sync"), ("POST", "/api/clients/register"), ("POST", "/api/lms/register")}
    for route in [r for r in ROUTES if r.access in ANONYMOUS]:
        limit = settings.get((method_path(route.path), route.method))
        assert limit, f"{route.method} {route.path} takes no credentials and has no throttling of its own"
        assert limit["ThrottlingRateLimit"] < rate and limit["ThrottlingBurstLimit"] < burst, route.path
    for (path, method), limit in settings.items():  # every setting names a route of the app
        assert (path, method) == ("/*", "*") or any(
            (method_path(r.path), r.method) == (path, method) for r in ROUTES), (path, method)
        assert limit.get("LoggingLevel", "OFF") == "OFF"  # execution logs would go to a group nothing expires

    # access logs: one JSON line per request to a log group that expires
    logs = stage.get("AccessLogSetting")
    assert logs, "no access logging"
    destination = logs["DestinationArn"]
    target = (destination["Fn::GetAtt"][0] if "Fn::GetAtt" in destination
              else re.search(r":log-group:\$\{(\w+)\}$", destination["Fn::Sub"]).group(1))  # type: ignore[union-attr]
    group = template["Resources"][target]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["Properties"].get("RetentionInDays")
    assert all(field in logs["Format"] for field in ACCESS_LOG_FIELDS), logs["Format"]

    # every function: a bounded share of the account's concurrency
    functions = of_type(template, "AWS::Lambda::Function")
    for lid, function in functions.items():
        assert function["Properties"].get("ReservedConcurrentExecutions", 0) >= 1, f"{lid}: no reserved concurrency"

    # the API function gives up before API Gateway does, and ?wait= leaves room for the rest of the call
    api_timeout = functions[API_HANDLER]["Properties"]["Timeout"]
    assert api_timeout < API_GATEWAY_TIMEOUT_S, f"the API function may run {api_timeout} s, API Gateway stops at 29"
    assert api_timeout >= MAX_WAIT_S + WAIT_HEADROOM_S, f"?wait={MAX_WAIT_S} leaves no room in {api_timeout} s"
    body = of_type(template, "AWS::ApiGateway::RestApi")
    for api in body.values():
        for methods in api["Properties"]["Body"]["paths"].values():
            for method in methods.values():
                integration = method.get("x-amazon-apigateway-integration", {})
                assert integration.get("timeoutInMillis", 29_000) > api_timeout * 1000
