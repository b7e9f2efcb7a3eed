"""The merge template handed to ``chalice package --merge-template``: everything of the tenant's root stack that
Chalice does not generate.

* parameters (``TenantId``, ``Stage``, ``IotDataEndpoint``, ``MediaRetentionDays``);
* the data plane as a nested stack (``DataPlane``: ``infra/aws/data-plane.yaml``; the deploy tool uploads it
  and rewrites ``TemplateURL``, as ``aws cloudformation package`` would);
* the environment of every function of the app (``CLASSTOP_TENANT``...);
* an IAM policy on Chalice's ``DefaultRole`` for the tenant's tables, IoT topics/shadows/registry, topic and
  bucket;
* one ``AWS::IoT::TopicRule`` per rule of ``infra.aws.rules.RULES`` targeting the Chalice function of its
  handler, with the ``AWS::Lambda::Permission`` that lets IoT invoke it;
* outputs: the IoT endpoint, the table names and the other data-plane names.

The IoT data endpoint (``xxxx-ats.iot.<region>.amazonaws.com``) is a parameter rather than a custom resource:
the deploy tool looks it up (``iot:DescribeEndpoint``) and passes it, which keeps the stack free of a
custom-resource Lambda.
"""

from __future__ import annotations

from typing import Any

from infra.aws import cloud_app, data_plane
from infra.aws.cfn import (
    TOKEN_NAMESPACE,
    Json,
    get_att,
    logical_id,
    name_sub,
    ref,
    sub,
    tokens_to_sub,
    underscored,
)
from infra.aws.errors import BuildError
from infra.aws.package import LAMBDA_RUNTIME
from infra.aws.rules import RULES, Rule
from shared import topics

DATA_PLANE = "DataPlane"
#: where the nested template lives in the repository (relative to template.yaml)
DATA_PLANE_PATH = "infra/aws/data-plane.yaml"
ROLE = "DefaultRole"  # the role `chalice package` creates for every function
ACCESS_POLICY = "CloudAccessPolicy"
IOT_SQL_VERSION = "2016-03-23"
_ARN_IOT = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
#: data-plane outputs handed to the functions as environment variables
_ENV_FROM_DATA_PLANE = {
    "CLASSTOP_IOT_SITE_POLICY": "SitePolicyName",
    "CLASSTOP_IOT_SITE_THING_TYPE": "SiteThingTypeName",
    "CLASSTOP_NOTIFICATIONS_TOPIC_ARN": "NotificationsTopicArn",
    "CLASSTOP_MEDIA_BUCKET": "MediaBucketName",
}


def data_plane_output(name: str) -> Json:
    return get_att(DATA_PLANE, f"Outputs.{name}")


def rule_logical_id(rule: Rule) -> str:
    return logical_id(rule.name, "rule")


def rule_name(rule: Rule) -> Json:
    """``Rule.full_name`` of the tenant's stage: ``classtop__{tenant}__{stage}__{rule}`` with ``-`` -> ``_``."""
    return underscored(rule.full_name(TOKEN_NAMESPACE))


def environment() -> Json:
    variables: Json = {
        "CLASSTOP_TENANT": ref("TenantId"),
        "CLASSTOP_STAGE": ref("Stage"),
        "CLASSTOP_IOT_DATA_ENDPOINT": sub("https://${IotDataEndpoint}"),
    }
    for name, output in _ENV_FROM_DATA_PLANE.items():
        variables[name] = data_plane_output(output)
    return {"Variables": variables}


def _table_arns(models: tuple[Any, ...]) -> list[Json]:
    arns: list[Json] = []
    for model in sorted(models, key=lambda m: m.AGGREGATE):
        arn = data_plane_output(f"{data_plane.table_logical_id(model.AGGREGATE)}Arn")
        arns.append(arn)
        arns.append({"Fn::Join": ["", [arn, "/index/*"]]})
    return arns


def access_policy(models: tuple[Any, ...]) -> Json:
    site_topics = tokens_to_sub(topics.site_up(TOKEN_NAMESPACE, "x", topics.SiteUp.HEARTBEAT)).split("/x/")[0]
    things = tokens_to_sub(topics.site_thing_name(TOKEN_NAMESPACE, "x"))[: -len("x")] + "*"
    statements = [
        {
            "Sid": "TenantTables",
            "Effect": "Allow",
            "Action": [
                "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
                "dynamodb:Query", "dynamodb:TransactGetItems", "dynamodb:TransactWriteItems", "dynamodb:UpdateItem",
            ],
            "Resource": _table_arns(models),
        },
        {
            "Sid": "PublishToTenantSites",
            "Effect": "Allow",
            "Action": "iot:Publish",
            "Resource": sub(f"{_ARN_IOT}:topic/{site_topics}/*"),
        },
        {
            "Sid": "TenantThingsAndShadows",
            "Effect": "Allow",
            "Action": [
                "iot:AttachThingPrincipal", "iot:CreateThing", "iot:DeleteThing", "iot:DeleteThingShadow",
                "iot:DescribeThing", "iot:DetachThingPrincipal", "iot:GetThingShadow", "iot:ListNamedShadowsForThing",
                "iot:ListThingPrincipals", "iot:UpdateThing", "iot:UpdateThingShadow",
            ],
            "Resource": sub(f"{_ARN_IOT}:thing/{things}"),
        },
        {
            "Sid": "SiteCertificates",
            "Effect": "Allow",
            "Action": [
                "iot:AttachPolicy", "iot:DeleteCertificate", "iot:DescribeCertificate", "iot:DetachPolicy",
                "iot:UpdateCertificate",
            ],
            "Resource": [
                sub(f"{_ARN_IOT}:cert/*"),
                {"Fn::Sub": [f"{_ARN_IOT}:policy/${{SitePolicy}}",
                             {"SitePolicy": data_plane_output("SitePolicyName")}]},
            ],
        },
        {
            "Sid": "IssueCertificates",
            "Effect": "Allow",
            "Action": ["iot:CreateCertificateFromCsr", "iot:CreateKeysAndCertificate", "iot:DescribeEndpoint"],
            "Resource": "*",
        },
        {
            "Sid": "Notifications",
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": data_plane_output("NotificationsTopicArn"),
        },
        {
            "Sid": "MediaObjects",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": {"Fn::Join": ["", [data_plane_output("MediaBucketArn"), "/*"]]},
        },
        {
            "Sid": "MediaListing",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": data_plane_output("MediaBucketArn"),
        },
    ]
    # the resource ARNs above are Fn::Sub strings with ${TenantId}: no IoT policy variable may slip in
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": name_sub("cloud-access"),
            "Roles": [ref(ROLE)],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def _rule_resources(rule: Rule, function_ids: dict[str, str]) -> Json:
    target = function_ids.get(rule.handler)
    if target is None:
        known = ", ".join(sorted(function_ids)) or "none"
        raise BuildError(f"rule {rule.name}: handler {rule.handler!r} is not a Lambda function of the app ({known})")
    lid = rule_logical_id(rule)
    return {
        lid: {
            "Type": "AWS::IoT::TopicRule",
            "Properties": {
                "RuleName": rule_name(rule),
                "TopicRulePayload": {
                    "AwsIotSqlVersion": IOT_SQL_VERSION,
                    "Description": f"{rule.channel.value} of every site of the tenant -> {rule.handler}",
                    "RuleDisabled": False,
                    "Sql": sub(tokens_to_sub(rule.sql(TOKEN_NAMESPACE))),
                    "Actions": [{"Lambda": {"FunctionArn": get_att(target, "Arn")}}],
                },
            },
        },
        f"{lid}Permission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": ref(target),
                "Principal": "iot.amazonaws.com",
                "SourceAccount": ref("AWS::AccountId"),
                "SourceArn": get_att(lid, "Arn"),
            },
        },
    }


def merge_template() -> Json:
    """The template merged into Chalice's (deep merge: our keys win)."""
    models = cloud_app.models()
    functions = cloud_app.functions()
    function_ids = {f.name: f.logical_id for f in functions}
    parameters = data_plane.tenant_parameters()
    parameters["IotDataEndpoint"] = {
        "Type": "String",
        "Description": "The account's IoT Core data endpoint (aws iot describe-endpoint --endpoint-type "
                       "iot:Data-ATS); the deploy tool fills it in",
        "AllowedPattern": r"^[a-z0-9][a-z0-9.-]{0,252}$",
    }
    parameters["MediaRetentionDays"] = {
        "Type": "Number",
        "Description": "Days CCTV snapshots/clips and large command outputs are kept",
        "Default": data_plane.DEFAULT_MEDIA_RETENTION_DAYS,
        "MinValue": 1,
        "MaxValue": 3650,
    }
    resources: Json = {
        DATA_PLANE: {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": DATA_PLANE_PATH,
                "Parameters": {
                    "TenantId": ref("TenantId"),
                    "Stage": ref("Stage"),
                    "MediaRetentionDays": ref("MediaRetentionDays"),
                },
            },
        },
        ACCESS_POLICY: access_policy(models),
    }
    for function in functions:
        resources[function.logical_id] = {"Properties": {"Environment": environment(), "Runtime": LAMBDA_RUNTIME}}
    for rule in RULES:
        resources.update(_rule_resources(rule, function_ids))
    outputs: Json = {
        "IotDataEndpoint": {"Description": "MQTT endpoint of the tenant's LMSs", "Value": ref("IotDataEndpoint")},
    }
    for model in sorted(models, key=lambda m: m.AGGREGATE):
        name = f"{data_plane.table_logical_id(model.AGGREGATE)}Name"
        outputs[name] = {"Value": data_plane_output(name)}
    for output in ("SitePolicyName", "SiteThingTypeName", "NotificationsTopicArn", "MediaBucketName"):
        outputs[output] = {"Value": data_plane_output(output)}
    return {
        "Description": "ClassTop Fleet: one tenant's cloud plane (Chalice API and functions, IoT rules, data plane)",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    }

