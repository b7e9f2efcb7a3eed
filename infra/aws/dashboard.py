"""The tenant's CloudWatch dashboard (``classtop--{tenant}--{stage}``), for whoever runs the stack: optional.

A dashboard costs $3 a month (beyond an account's first three), a third of what the rest of a tenant stage costs
whatever its traffic; every number on it is also in CloudWatch's metrics console and the alarms need none of it.
So the template parameter ``CloudWatchDashboard`` (deploy tool: ``--dashboard``) is ``false`` by default: turn it
on for a stage someone watches (a district's production), off again when nobody does.

One page, top to bottom: the state of every alarm of the stack; the functions' invocations, errors, throttles
and p95 duration; the API's requests, 4xx/5xx and p95 latency; the topic rules' matched messages and action
failures (and failures of their error action: a message lost); the tables' throttled requests and consumed
capacity; the failed-events queue; the app's own metrics (commands sent, publish failures, per-agent outcomes,
dropped site messages: EMF, ``cloud/chalicelib/observability.py``). ``docs/operations.md`` reads it.

The body is JSON in a ``Fn::Sub``: names are ``${LogicalId}`` (a function's name), ``${X.Arn}``, the data plane's
``${DataPlane.Outputs.*}``, and, for the rules (whose names are a ``Fn::Join``), variables of the ``Fn::Sub``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from infra.aws import alarms, data_plane, failure_filters, http_api
from infra.aws.cfn import Json, name_sub, ref
from infra.aws.cloud_app import Function
from infra.aws.rules import Rule

DASHBOARD = "OperationsDashboard"
PARAMETER = "CloudWatchDashboard"
CONDITION = "HasOperationsDashboard"
WIDTH, HALF, THIRD, HEIGHT = 24, 12, 8, 6
#: the app's metrics (chalicelib.observability.Metric), in the order the widget shows them
APP_METRICS = ("CommandsSent", "CommandPublishFailures", "AgentCommandsSucceeded", "AgentCommandsFailed",
               "AgentCommandsTimedOut", "AgentCommandsExpired", "RuleEventsDropped")
APP_SERVICE = "classtop-cloud"
PERIOD_S = alarms.PERIOD_S


def _var(name: str) -> str:
    return "${" + name + "}"


def _rule_var(index: int) -> str:
    return f"Rule{index}Name"


def _metric_widget(title: str, metrics: list[Any], *, width: int = HALF, stat: str = "Sum",
                   **properties: Any) -> Json:
    return {"type": "metric", "width": width, "height": HEIGHT, "properties": {
        "title": title, "region": _var("AWS::Region"), "view": "timeSeries", "stat": stat, "period": PERIOD_S,
        "metrics": metrics, **properties}}


def _per(namespace: str, metric_names: Sequence[str], dimension: str, values: Sequence[str]) -> list[Any]:
    return [[namespace, name, dimension, value] for name in metric_names for value in values]


def _search(metric_name: str, rule_names: Sequence[str]) -> list[Any]:
    """A rule action metric (dimensions ``ActionType`` and ``RuleName``) of every rule, whatever the action."""
    return [{"expression": f"SEARCH('{{AWS/IoT,ActionType,RuleName}} MetricName=\"{metric_name}\" "
                           f"RuleName=\"{name}\"', 'Sum', {PERIOD_S})", "id": f"{metric_name.lower()}{i}"}
            for i, name in enumerate(rule_names)]


def body(functions: Sequence[Function], rules: Sequence[Rule], aggregates: Sequence[str],
         alarm_ids: Sequence[str], stage_name: str) -> str:
    """The dashboard's JSON (a ``Fn::Sub`` text: see the module's docstring)."""
    function_names = [_var(f.logical_id) for f in functions]
    rule_names = [_var(_rule_var(i)) for i in range(len(rules))]
    tables = [_var(f"{data_plane.NESTED_STACK}.Outputs.{data_plane.table_logical_id(a)}Name") for a in aggregates]
    api = _var(http_api.HTTP_API)  # an HTTP API's metrics are by ApiId and Stage
    queue = _var("FailedEventsQueue.QueueName")
    app_dimensions = ["service", APP_SERVICE, "tenant", _var("TenantId"), "stage", _var("Stage")]
    widgets: list[Json] = [
        {"type": "text", "width": WIDTH, "height": 2, "properties": {"markdown": (
            f"# ClassTop Fleet {_var('TenantId')} {_var('Stage')}\n"
            "What each alarm means and what to do: docs/operations.md in the repository.")}},
        {"type": "alarm", "width": WIDTH, "height": 4, "properties": {
            "title": "Alarms", "alarms": [_var(f"{lid}.Arn") for lid in alarm_ids]}},
        _metric_widget("Functions: invocations", _per("AWS/Lambda", ["Invocations"], "FunctionName", function_names),
                       width=THIRD),
        _metric_widget("Functions: errors and throttles",
                       _per("AWS/Lambda", ["Errors", "Throttles"], "FunctionName", function_names), width=THIRD),
        _metric_widget("Functions: duration p95 (ms)", _per("AWS/Lambda", ["Duration"], "FunctionName",
                                                            function_names), width=THIRD, stat="p95"),
        _metric_widget("API: requests and errors", [
            ["AWS/ApiGateway", name, "ApiId", api, "Stage", stage_name] for name in ("Count", "4xx", "5xx")
        ]),
        _metric_widget("API: latency p95 (ms)", [
            ["AWS/ApiGateway", name, "ApiId", api, "Stage", stage_name] for name in ("Latency", "IntegrationLatency")
        ], stat="p95"),
        _metric_widget("Topic rules: messages matched and throttled",
                       _per("AWS/IoT", ["TopicMatch", "RuleMessageThrottled"], "RuleName", rule_names), width=THIRD),
        _metric_widget("Topic rules: action failures", _search("Failure", rule_names), width=THIRD),
        _metric_widget("Topic rules: error action failures (messages lost)", _search("ErrorActionFailure", rule_names),
                       width=THIRD),
        _metric_widget("Tables: throttled requests",
                       _per("AWS/DynamoDB", ["ReadThrottleEvents", "WriteThrottleEvents"], "TableName", tables)),
        _metric_widget("Tables: consumed capacity units",
                       _per("AWS/DynamoDB", ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"], "TableName",
                            tables)),
        _metric_widget("Failed-events queue: messages", [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue],
            ["AWS/SQS", "NumberOfMessagesSent", "QueueName", queue],
        ], stat="Maximum"),
        _metric_widget("Commands and site messages (the app's metrics)",
                       [[alarms.APP_NAMESPACE, name, *app_dimensions] for name in APP_METRICS]),
        _metric_widget("Function failures (the alarm's metric: errors, timeouts, runtime exits, ERROR lines)",
                       [[failure_filters.namespace()["Fn::Sub"], failure_filters.METRIC_NAME]], width=WIDTH),
    ]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def dashboard(functions: Sequence[Function], rules: Sequence[Rule], rule_names: Sequence[Json],
              aggregates: Sequence[str], alarm_ids: Sequence[str], stage_name: str) -> Json:
    """The ``AWS::CloudWatch::Dashboard``; ``rule_names[i]`` is the name of ``rules[i]`` (a ``Fn::Join``)."""
    variables = {_rule_var(i): name for i, name in enumerate(rule_names)}
    return {DASHBOARD: {
        "Type": "AWS::CloudWatch::Dashboard",
        "Condition": CONDITION,
        "Properties": {
            "DashboardName": name_sub(),
            "DashboardBody": {"Fn::Sub": [body(functions, rules, aggregates, alarm_ids, stage_name), variables]},
        },
    }}


def parameter() -> Json:
    return {
        "Type": "String",
        "Default": "false",
        "AllowedValues": ["false", "true"],
        "Description": "Create the operations dashboard (CloudWatch bills $3 a month for it): docs/operations.md",
    }


def conditions() -> Json:
    return {CONDITION: {"Fn::Equals": [ref(PARAMETER), "true"]}}


def environment() -> Json:
    """The functions' switch of the app's own metrics (``chalicelib.observability.APP_METRICS_ENV``): on with the
    dashboard that plots them, off without it (each is a custom metric, $0.30 a month whether or not plotted)."""
    return {"CLASSTOP_APP_METRICS": {"Fn::If": [CONDITION, "on", "off"]}}
