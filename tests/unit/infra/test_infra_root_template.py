"""The committed template.yaml, checked statically (it cannot be deployed here): AWS's SAM translator turns it
into plain CloudFormation in which every reference resolves and every handler exists in the Chalice app; the
IoT rules, permissions and function environment follow infra/aws/rules.py and the cloud's Settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.config import Settings
from infra.aws import cloud_app, roles
from infra.aws.root import rule_logical_id
from infra.aws.rules import RULES
from shared.names import Namespace
from tests.unit.infra import stack_templates
from tests.unit.infra.stack_templates import load

PSEUDO = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::StackId",
          "AWS::NoValue", "AWS::NotificationARNs"}
NS = Namespace("district-a", "prod")
PARAMS = stack_templates.PARAMS
VALUES = {**PARAMS, "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "UserPool": "eu-west-1_AbC123xyz", "UserPoolClient": "4example5client6id",
          "OverviewFeedSecret": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:OverviewFeedSecret-AbCdEf"}


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return stack_templates.translated()


def references(node: Any) -> list[tuple[str, str | None]]:
    """Every (resource-or-parameter, attribute) the fragment refers to (Ref, GetAtt, Sub variables)."""
    found: list[tuple[str, str | None]] = []
    if isinstance(node, list):
        for item in node:
            found += references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.append((value, None))
            elif key == "Fn::GetAtt":
                target, attribute = value if isinstance(value, list) else value.split(".", 1)
                found.append((target, attribute))
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                    if name not in variables:
                        target, _, attribute = name.partition(".")
                        found.append((target, attribute or None))
                found += references(variables)
            else:
                found += references(value)
    return found


def test_sam_translator_yields_plain_cloudformation(translated: dict[str, Any]) -> None:
    assert "Transform" not in translated
    kinds = {r["Type"] for r in translated["Resources"].values()}
    assert not [k for k in kinds if k.startswith("AWS::Serverless::")]
    assert {"AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage", "AWS::IoT::TopicRule",
            "AWS::CloudFormation::Stack", "AWS::IAM::Role", "AWS::Lambda::EventInvokeConfig", "AWS::SQS::Queue",
            "AWS::Logs::LogGroup", "AWS::CloudWatch::Alarm"} <= kinds


def test_every_reference_resolves(translated: dict[str, Any]) -> None:
    resources = translated["Resources"]
    parameters = set(translated["Parameters"])
    data_plane_outputs = set(load("infra/aws/data-plane.yaml")["Outputs"])
    unresolved = []
    for target, attribute in references({"R": resources, "O": translated.get("Outputs", {})}):
        if target in PSEUDO or (attribute is None and target in parameters):
            continue
        if target not in resources:
            unresolved.append(f"{target}.{attribute}" if attribute else target)
        elif (resources[target]["Type"] == "AWS::CloudFormation::Stack" and attribute is not None
              and attribute.removeprefix("Outputs.") not in data_plane_outputs):
            unresolved.append(f"{target}.{attribute}")
    assert unresolved == []


def test_every_handler_exists_in_the_chalice_app(translated: dict[str, Any]) -> None:
    functions = {lid: r["Properties"] for lid, r in translated["Resources"].items()
                 if r["Type"] == "AWS::Lambda::Function"}
    assert sorted(functions) == sorted(f.logical_id for f in cloud_app.functions())
    for lid, props in functions.items():
        assert cloud_app.handler_exists(props["Handler"]), f"{lid}: handler {props['Handler']} not in cloud/"
        assert props["Code"] == {"S3Bucket": "artifacts", "S3Key": "classtop/code.zip"}
    assert not cloud_app.handler_exists("chalicelib.handlers.no_such_handler")


def resolve(node: Any) -> Any:
    """Evaluate the intrinsics the template uses in names and environment (Ref, Sub, Join, Split)."""
    if isinstance(node, list):
        return [resolve(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "Ref" in node:
        return VALUES[node["Ref"]]
    if "Fn::Sub" in node:
        return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: VALUES[m.group(1)], node["Fn::Sub"]).replace("${!", "${")
    if "Fn::Join" in node:
        sep, items = node["Fn::Join"]
        return sep.join(resolve(items))
    if "Fn::Split" in node:
        sep, text = node["Fn::Split"]
        return resolve(text).split(sep)
    if "Fn::GetAtt" in node:
        return "<" + ".".join(node["Fn::GetAtt"]) + ">"
    return {key: resolve(value) for key, value in node.items()}


def test_topic_rules_follow_the_rule_table() -> None:
    resources = load("template.yaml")["Resources"]
    functions = {f.name: f.logical_id for f in cloud_app.functions()}
    rules = {lid for lid, r in resources.items() if r["Type"] == "AWS::IoT::TopicRule"}
    assert rules == {rule_logical_id(rule) for rule in RULES}
    names = set()
    for rule in RULES:
        lid = rule_logical_id(rule)
        payload = resources[lid]["Properties"]["TopicRulePayload"]
        assert resolve(payload["Sql"]) == rule.sql(NS)
        assert payload["AwsIotSqlVersion"] == "2016-03-23"
        assert payload["Actions"] == [{"Lambda": {"FunctionArn": {"Fn::GetAtt": [functions[rule.handler], "Arn"]}}}]
        name = resolve(resources[lid]["Properties"]["RuleName"])
        assert re.fullmatch(r"[A-Za-z0-9_]{1,128}", name) and name == rule.full_name(NS)
        names.add(name)
        permission = resources[f"{lid}Permission"]["Properties"]
        assert permission["Principal"] == "iot.amazonaws.com"
        assert permission["FunctionName"] == {"Ref": functions[rule.handler]}
        assert permission["SourceArn"] == {"Fn::GetAtt": [lid, "Arn"]}
    assert len(names) == len(RULES)


def test_every_function_gets_an_environment_the_cloud_accepts() -> None:
    resources = load("template.yaml")["Resources"]
    for function in cloud_app.functions():
        env = resolve(resources[function.logical_id]["Properties"]["Environment"]["Variables"])
        assert env["CLASSTOP_TENANT"] == "district-a" and env["CLASSTOP_STAGE"] == "prod"
        settings = Settings.from_env({**env, "CLASSTOP_IOT_SITE_POLICY": "classtop--district-a--prod--site-policy",
                                      "AWS_DEFAULT_REGION": "eu-west-1"})
        assert settings.iot_data_url == "https://abc123-ats.iot.eu-west-1.amazonaws.com"
        assert env["CLASSTOP_IOT_SITE_POLICY"] == "<DataPlane.Outputs.SitePolicyName>"
        assert (settings.user_pool_id, settings.user_pool_client_id) == ("eu-west-1_AbC123xyz", "4example5client6id")
        assert settings.jwks_url == \
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz/.well-known/jwks.json"
        assert not settings.reveal_temporary_passwords


def test_the_api_may_use_exactly_the_tenants_tables_sites_and_things() -> None:
    resources = load("template.yaml")["Resources"]
    api = next(f for f in cloud_app.functions() if f.logical_id == cloud_app.API_HANDLER)
    role = resources[roles.role_logical_id(api)]["Properties"]
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    tables = resolve(statements["WriteTables"]["Resource"])
    data_plane = load("infra/aws/data-plane.yaml")
    table_ids = sorted(lid for lid, r in data_plane["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table")
    assert sorted(tables) == sorted(x for lid in table_ids for x in (f"<DataPlane.Outputs.{lid}Arn>",
                                                                      f"<DataPlane.Outputs.{lid}Arn>/index/*"))
    assert resolve(statements["PublishToTenantSites"]["Resource"]) == \
        "arn:aws:iot:eu-west-1:123456789012:topic/ct/district-a/prod/site/*/down/*"
    assert resolve(statements["TenantSiteThingsAndShadows"]["Resource"]) == \
        "arn:aws:iot:eu-west-1:123456789012:thing/ct--district-a--prod--*"
