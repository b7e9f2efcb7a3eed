"""The merge template handed to ``chalice package --merge-template``: everything of the tenant's root stack that
Chalice does not generate.

* parameters (``TenantId``, ``Stage``, ``IotDataEndpoint``, ``MediaRetentionDays``, ``LogRetentionDays``,
  ``AlarmEmail``, ``CloudWatchDashboard``);
* the data plane as a nested stack (``DataPlane``: ``infra/aws/data-plane.yaml``; the deploy tool uploads it
  and rewrites ``TemplateURL``, as ``aws cloudformation package`` would);
* per function of the app: its environment (``CLASSTOP_TENANT``...), runtime (:data:`LAMBDA_RUNTIME`), its own
  IAM role (:mod:`infra.aws.roles`; Chalice manages none, ``cloud/.chalice/config.json``), its own expiring log
  group (:mod:`infra.aws.logs`), and for a function invoked asynchronously (rule handlers, the sweeper) bounded
  retries then the failed-events queue (:mod:`infra.aws.failures`);
* the cloud API as an API Gateway HTTP API in place of Chalice's REST API (:mod:`infra.aws.http_api`; Chalice's
  ``RestAPI`` stays only under the parameter ``LegacyRestApi``, while a deployed tenant's sites move), its stage
  throttled and access-logged (:mod:`infra.aws.api_stage`);
* one ``AWS::IoT::TopicRule`` per rule of ``infra.aws.rules.RULES`` targeting the Chalice function of its
  handler, with an ``errorAction`` to the failed-events queue and the ``AWS::Lambda::Permission`` that lets IoT
  invoke the function;
* three alarms, all to the tenant's notifications topic, and an optional e-mail subscription to it (parameter
  ``AlarmEmail``): the failed-events queue and the API's 5xx answers (:mod:`infra.aws.failures`), and the
  functions' failures, counted by metric filters on every function's log group (:mod:`infra.aws.failure_filters`,
  :mod:`infra.aws.alarms`);
* the operations dashboard, if the parameter ``CloudWatchDashboard`` is ``true`` (:mod:`infra.aws.dashboard`);
* the dashboard's accounts, a Cognito user pool (:mod:`infra.aws.user_pool`), and its hosting: CloudFront in
  front of the bucket's ``site/`` files and of the API on the same origin (:mod:`infra.aws.site_hosting`), and
  the private bucket of the overview's objects the dashboard polls (:mod:`infra.aws.overview_bucket`);
* outputs: the IoT endpoint, the table names, the other data-plane names and the failed-events queue.

The IoT data endpoint (``xxxx-ats.iot.<region>.amazonaws.com``) is a parameter rather than a custom resource:
the deploy tool looks it up (``iot:DescribeEndpoint``) and passes it, which keeps the stack free of a
custom-resource Lambda.
"""

from __future__ import annotations

from typing import Any

from infra.aws import (
    alarms,
    cloud_app,
    dashboard,
    data_plane,
    failure_filters,
    failures,
    http_api,
    logs,
    overview_bucket,
    roles,
    site_hosting,
    user_pool,
)
from infra.aws.cfn import TOKEN_NAMESPACE, Json, get_att, logical_id, ref, sub, tokens_to_sub, underscored
from infra.aws.cloud_app import Function
from infra.aws.errors import BuildError
from infra.aws.package import LAMBDA_RUNTIME
from infra.aws.rules import RULES, Rule

DATA_PLANE = data_plane.NESTED_STACK
#: where the nested template lives in the repository (relative to template.yaml)
DATA_PLANE_PATH = "infra/aws/data-plane.yaml"
IOT_SQL_VERSION = "2016-03-23"
#: data-plane outputs handed to the functions as environment variables
_ENV_FROM_DATA_PLANE = {
    "CLASSTOP_IOT_SITE_POLICY": "SitePolicyName",
    "CLASSTOP_IOT_SITE_THING_TYPE": "SiteThingTypeName",
    "CLASSTOP_NOTIFICATIONS_TOPIC_ARN": "NotificationsTopicArn",
    "CLASSTOP_MEDIA_BUCKET": "MediaBucketName",
    "CLASSTOP_ALERTS_TOPIC_ARN": "AlertsTopicArn",
}


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
        **user_pool.environment(),
        **overview_bucket.environment(),
        **dashboard.environment(),
    }
    for name, output in _ENV_FROM_DATA_PLANE.items():
        variables[name] = data_plane.output(output)
    return {"Variables": variables}


def invoked_asynchronously(function: Function) -> bool:
    """Every function but the API's: IoT rules and schedules invoke Lambda asynchronously."""
    return function.logical_id != cloud_app.API_HANDLER


def _function_resources(function: Function, models: tuple[Any, ...]) -> Json:
    role_id, log_id = roles.role_logical_id(function), logs.function_log_group_id(function)
    asynchronous = invoked_asynchronously(function)
    properties: Json = {
        "Environment": environment(),
        "Runtime": LAMBDA_RUNTIME,
        "Role": get_att(role_id, "Arn"),
        "LoggingConfig": logs.logging_config(function),
    }
    if asynchronous:
        properties["EventInvokeConfig"] = failures.event_invoke_config()
    return {
        function.logical_id: {"Properties": properties},
        role_id: roles.role(function, models, log_group=log_id,
                            failure_queue=failures.FAILED_EVENTS_QUEUE if asynchronous else None),
        log_id: logs.function_log_group(function),
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
                    "Description": rule.description,
                    "RuleDisabled": False,
                    "Sql": sub(tokens_to_sub(rule.sql(TOKEN_NAMESPACE))),
                    "Actions": [{"Lambda": {"FunctionArn": get_att(target, "Arn")}}],
                    "ErrorAction": failures.rule_error_action(),
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


def _parameters() -> Json:
    parameters = data_plane.tenant_parameters()
    parameters["IotDataEndpoint"] = {
        "Type": "String",
        "Description": "The account's IoT Core data endpoint (aws iot describe-endpoint --endpoint-type "
                       "iot:Data-ATS); the deploy tool fills it in",
        "AllowedPattern": r"^[a-z0-9][a-z0-9.-]{0,252}$",
    }
    parameters["MediaRetentionDays"] = data_plane.media_retention_parameter()
    parameters[logs.LOG_RETENTION_PARAMETER] = logs.retention_parameter()
    parameters[alarms.ALARM_EMAIL_PARAMETER] = alarms.alarm_email_parameter()
    parameters[dashboard.PARAMETER] = dashboard.parameter()
    parameters[http_api.LEGACY_PARAMETER] = http_api.parameter()
    return parameters


def _observability_resources(functions: list[Function], models: tuple[Any, ...]) -> Json:
    """The function failures' metric filters and alarm (:mod:`infra.aws.failure_filters`), the e-mail
    subscription and the optional dashboard."""
    resources: Json = {alarms.ALARM_EMAIL_SUBSCRIPTION: alarms.alarm_email_subscription()}
    resources.update(failure_filters.resources(functions))
    aggregates = sorted(model.AGGREGATE for model in models)
    alarm_ids = sorted([*(lid for lid, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"),
                        failures.FAILED_EVENTS_ALARM, failures.API_ERRORS_ALARM])
    resources.update(dashboard.dashboard(functions, RULES, [rule_name(rule) for rule in RULES], aggregates, alarm_ids,
                                         cloud_app.api_gateway_stage()))
    return resources


def merge_template() -> Json:
    """The template merged into Chalice's (deep merge: our keys win)."""
    models = cloud_app.models()
    functions = cloud_app.functions()
    function_ids = {f.name: f.logical_id for f in functions}
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
        failures.FAILED_EVENTS_QUEUE: failures.failed_events_queue(),
        failures.RULE_ERRORS_ROLE: failures.rule_errors_role(),
        **failures.alarms(ref(http_api.HTTP_API), cloud_app.api_gateway_stage()),
    }
    for function in functions:
        resources.update(_function_resources(function, models))
    if any(f.logical_id == cloud_app.API_HANDLER for f in functions):
        resources.update(http_api.resources())
        resources[logs.API_ACCESS_LOGS] = logs.api_access_log_group()
        resources.update(site_hosting.resources(http_api.HTTP_API, cloud_app.api_gateway_stage()))
        resources.update(overview_bucket.resources(get_att(site_hosting.DISTRIBUTION, "DomainName")))
    resources.update(user_pool.resources())
    for rule in RULES:
        resources.update(_rule_resources(rule, function_ids))
    resources.update(_observability_resources(functions, models))
    outputs: Json = {
        "IotDataEndpoint": {"Description": "MQTT endpoint of the tenant's LMSs", "Value": ref("IotDataEndpoint")},
        "FailedEventsQueueUrl": {"Description": "Site messages and scheduled runs that failed after retries",
                                 "Value": ref(failures.FAILED_EVENTS_QUEUE)},
        "DashboardName": {"Description": "The operations dashboard (docs/operations.md)",
                          "Condition": dashboard.CONDITION, "Value": ref(dashboard.DASHBOARD)},
        "UserPoolId": {"Description": "The dashboard's accounts", "Value": ref(user_pool.USER_POOL)},
        "UserPoolClientId": {"Value": ref(user_pool.USER_POOL_CLIENT)},
    }
    if site_hosting.DISTRIBUTION in resources:
        outputs.update(site_hosting.outputs())
        outputs.update(http_api.outputs())
    for model in sorted(models, key=lambda m: m.AGGREGATE):
        name = f"{data_plane.table_logical_id(model.AGGREGATE)}Name"
        outputs[name] = {"Value": data_plane.output(name)}
    for output in ("SitePolicyName", "SiteThingTypeName", "NotificationsTopicArn", "MediaBucketName",
                   "AlertsTopicArn"):
        outputs[output] = {"Value": data_plane.output(output)}
    return {
        "Description": "ClassTop Fleet: one tenant's cloud plane (Chalice API and functions, IoT rules, data plane)",
        "Parameters": _parameters(),
        "Conditions": {**alarms.alarm_email_conditions(), **dashboard.conditions(), **http_api.conditions()},
        "Resources": resources,
        "Outputs": outputs,
    }
