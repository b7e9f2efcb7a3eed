"""The Chalice app behind an API Gateway HTTP API (``infra/aws/http_api.py``): an event of payload format 1.0 from
one of its routes is routed like a REST API's; one of format 2.0 is not, which is why the integration names 1.0;
one from a catch-all route is not either, which is why every Chalice route gets its own.

Events are built as AWS documents them ("Create AWS Lambda proxy integrations for HTTP APIs", payload format
1.0 and 2.0): the matched route's path in ``resource`` and ``requestContext.resourcePath``, its key in
``requestContext.routeKey``, the request's path under the stage ``api``. The app runs on in-process moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from app import app
from chalice.local import LambdaContext
from moto import mock_aws

from infra.aws import cloud_app, http_api
from infra.aws.clients import Clients
from infra.aws.deploy import _parser as deploy_parser
from infra.aws.errors import BuildError, UsageError
from infra.aws.stacks import TAG_PLANE, TAG_STAGE, TAG_TENANT, StackManager, stack_name
from infra.aws.tenants import Target, Tenants, root_parameters
from tests.unit.cloud.cloud_testkit import Cloud, running_cloud
from tests.unit.infra import stack_templates


def v1_event(
    method: str,
    route: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """An HTTP API's event of payload format 1.0 for the route ``method route`` and the request path ``path``."""
    headers = {"accept": "application/json", "user-agent": "test", **(headers or {})}
    stage = cloud_app.api_gateway_stage()
    return {
        "version": "1.0",
        "resource": route,
        "path": f"/{stage}{path}",
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "extendedRequestId": "req",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "test"},
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": "req-1",
            "requestTime": "07/Dec/2026:20:00:00 +0000",
            "requestTimeEpoch": 1_796_673_600_000,
            "resourceId": None,
            "resourcePath": route,
            "routeKey": f"{method} {route}",
            "stage": stage,
        },
        "pathParameters": path_parameters,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
    }


def v2_event(method: str, route: str, path: str) -> dict[str, Any]:
    """The same request in payload format 2.0."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "application/json"},
        "requestContext": {
            "apiId": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "test",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {route}",
            "stage": "api",
        },
        "isBase64Encoded": False,
    }


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        yield running


def call(event: dict[str, Any]) -> tuple[int, Any]:
    answer = app(event, LambdaContext("api_handler", 256))
    body = answer.get("body")
    return answer["statusCode"], json.loads(body) if body else None


def test_a_route_without_parameters_is_served(cloud: Cloud) -> None:
    status, body = call(v1_event("GET", "/api/health", "/api/health"))
    assert status == 200, body
    assert body["data"]["status"] == "ok", body


def test_path_parameters_and_the_bearer_token_reach_the_route(cloud: Cloud) -> None:
    route, bearer = "/api/agents/{agent_id}", {"authorization": f"Bearer {cloud.tokens['admin']}"}
    status, body = call(
        v1_event("GET", route, "/api/agents/pc-404", headers=bearer, path_parameters={"agent_id": "pc-404"})
    )
    assert status == 404, body  # routed, authenticated, the agent looked up: unknown
    assert "pc-404" in json.dumps(body)
    status, _ = call(v1_event("GET", route, "/api/agents/pc-404", path_parameters={"agent_id": "pc-404"}))
    assert status == 401


def test_a_body_reaches_the_route(cloud: Cloud) -> None:
    bearer = {"authorization": f"Bearer {cloud.tokens['admin']}", "content-type": "application/json"}
    status, body = call(v1_event("POST", "/api/commands", "/api/commands", headers=bearer, body="{not json"))
    assert status == 400, body  # the body was read and refused, not lost


def test_format_2_0_is_not_routed_by_chalice(cloud: Cloud) -> None:
    status, _ = call(v2_event("GET", "/api/health", "/api/health"))
    assert status == 500  # no requestContext.resourcePath: Chalice answers "Unknown request."


def test_a_catch_all_route_is_not_routed_by_chalice(cloud: Cloud) -> None:
    event = v1_event("GET", "/{proxy+}", "/api/health", path_parameters={"proxy": "api/health"})
    status, _ = call(event)
    assert status != 200  # "/{proxy+}" is no route of the app: each Chalice route needs its own


def test_the_build_refuses_a_reference_to_the_rest_api_outside_its_condition() -> None:
    """Chalice's REST API is kept only under the legacy condition; anything else referring to it (a permission, an
    output, a CloudFront origin) would break the stack of a tenant without it, so the build stops instead."""
    legacy = {"Condition": http_api.LEGACY_CONDITION}
    kept = {
        "Resources": {
            http_api.REST_API: {"Type": "AWS::Serverless::Api", **legacy},
            http_api.HTTP_API: {},
            "P": {"Properties": {"SourceArn": {"Fn::Sub": "${RestAPI}/*"}}, **legacy},
        },
        "Outputs": {http_api.REST_API_OUTPUT: {"Value": {"Ref": http_api.REST_API}, **legacy}},
    }
    http_api.check_rest_api(kept)

    for section, name, entry in [
        ("Resources", "Origin", {"Properties": {"D": {"Fn::Sub": "${RestAPI}.x"}}}),
        ("Resources", http_api.REST_API, {"Type": "AWS::Serverless::Api"}),
        ("Outputs", http_api.REST_API_OUTPUT, {"Value": {"Ref": http_api.REST_API}}),
    ]:
        broken = json.loads(json.dumps(kept))
        broken[section][name] = entry
        with pytest.raises(BuildError, match=f"{section} {name} refers"):
            http_api.check_rest_api(broken)
    with pytest.raises(BuildError, match="no HttpApi"):
        http_api.check_rest_api({"Resources": {http_api.REST_API: legacy}})


def test_the_rest_api_is_kept_only_when_the_tenant_asks_for_it() -> None:
    template = stack_templates.load("template.yaml")
    for flags, expected in (([], "false"), (["--legacy-rest-api"], "true")):
        args = deploy_parser().parse_args(["tenant", "update", "--tenant", "t", *flags])
        parameters = root_parameters(Target(tenant=args.tenant, stage=args.stage, legacy_rest_api=args.legacy_rest_api))
        assert parameters[http_api.LEGACY_PARAMETER] == expected
        assert expected in template["Parameters"][http_api.LEGACY_PARAMETER]["AllowedValues"]
        stack = stack_templates.evaluate(parameters=parameters)
        names = {r.logical_id for r in stack.resources()}
        legacy = {http_api.REST_API, http_api.REST_API_PERMISSION}
        assert (legacy <= names) == (expected == "true") and (not legacy & names) == (expected == "false")
        assert {http_api.HTTP_API, http_api.STAGE, http_api.INVOKE_PERMISSION} <= names  # the HTTP API always


def test_an_update_of_a_stack_with_the_rest_api_needs_a_word_on_it() -> None:
    """Every stack made before the HTTP API has Chalice's REST API, whose URL its sites hold: an update that would
    delete it without being told to is refused before anything is built or changed."""
    stub = {
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            http_api.REST_API_OUTPUT: {"Value": "abc123"},
            http_api.ENDPOINT_OUTPUT: {"Value": "https://abc123.execute-api.eu-west-1.amazonaws.com/api/"},
        },
    }
    tags = [{"Key": TAG_TENANT, "Value": "t"}, {"Key": TAG_STAGE, "Value": "dev"}, {"Key": TAG_PLANE, "Value": "full"}]
    with mock_aws():
        clients = Clients(region="eu-west-1")
        clients.client("cloudformation").create_stack(
            StackName=stack_name("t", "dev"), TemplateBody=json.dumps(stub), Tags=tags
        )
        stacks = StackManager(clients, progress=lambda _: None, poll_s=0)
        tenants = Tenants(clients, stacks, progress=lambda _: None)
        for keep, drop in ((False, False), (True, True)):
            with pytest.raises(UsageError, match=r"abc123\.execute-api.*--legacy-rest-api.*--drop-legacy-rest-api"):
                tenants.update(Target(tenant="t", stage="dev", legacy_rest_api=keep, drop_legacy_rest_api=drop))
        assert clients.client("cloudformation").describe_stacks()["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        existing = stacks.describe(stack_name("t", "dev"))
        assert existing is not None
        for keep, drop in ((True, False), (False, True)):  # either word lets the update go on
            Tenants._check_rest_api_kept_or_dropped(
                existing, Target("t", "dev", legacy_rest_api=keep, drop_legacy_rest_api=drop)
            )
