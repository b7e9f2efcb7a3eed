"""The tenant's CloudWatch alarms on the functions, the topic rules and the tables, and who hears of them.

Every alarm notifies the tenant's notifications topic (the data plane's, encrypted; CloudWatch may use its key);
the deploy parameter ``AlarmEmail`` (optional: empty by default) subscribes an address to it. Each alarm looks at
one 5-minute period and goes off at the first event (``GreaterThanOrEqualToThreshold`` 1): in a healthy stack
none of these happen. ``docs/operations.md`` says what each alarm means and what to do.

* per Lambda function: ``Errors`` (an invocation that raised or timed out: for a rule handler or the sweeper a
  retry, and after two the event goes to the failed-events queue) and ``Throttles`` (no concurrency left: its
  reserved concurrency, ``cloud/.chalice/config.json``, or the account's);
* per topic rule: the rule's action ``Failure`` (IoT Core could not invoke the function - throttled, or its
  permission missing - and the message went to the error action, the failed-events queue), a Metrics Insights
  query because the metric's dimensions are the rule and the action type;
* per DynamoDB table: its read and write throttle events, summed (an on-demand table throttles above twice its
  previous peak, or at the account's table quota).

The failed-events queue and the API's 5xx answers have their alarms in :mod:`infra.aws.failures`.
"""

from __future__ import annotations

from typing import Any

from infra.aws import data_plane
from infra.aws.cfn import Json, logical_id, name_sub, ref
from infra.aws.cloud_app import Function
from infra.aws.rules import Rule

ALARM_EMAIL_PARAMETER = "AlarmEmail"
HAS_ALARM_EMAIL = "HasAlarmEmail"
ALARM_EMAIL_SUBSCRIPTION = "AlarmEmailSubscription"
#: seconds of data each alarm evaluates
PERIOD_S = 300
#: the namespace of the functions' own metrics (EMF, cloud/chalicelib/observability.py)
APP_NAMESPACE = "ClassTopFleet"
#: a loose check of an address (SNS sends it a confirmation e-mail; nothing is delivered before it is confirmed)
EMAIL_PATTERN = r"^$|^[^\s@]+@[^\s@]+\.[^\s@]+$"


def metric(namespace: str, name: str, dimensions: dict[str, Any], statistic: str = "Sum") -> Json:
    """An alarm's single metric, over :data:`PERIOD_S`."""
    return {"Namespace": namespace, "MetricName": name, "Statistic": statistic, "Period": PERIOD_S,
            "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()]}


def alarm(name: str, description: str, measured: Json, threshold: float = 1) -> Json:
    """An alarm named ``classtop--{tenant}--{stage}--{name}`` on ``measured`` (:func:`metric`, or ``Metrics``),
    at or above ``threshold`` in one period, to the notifications topic."""
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": name_sub(name),
            "AlarmDescription": description,
            "ActionsEnabled": True,
            "AlarmActions": [data_plane.output("NotificationsTopicArn")],
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": threshold,
            "TreatMissingData": "notBreaching",
            **measured,
        },
    }


# ---------------------------------------------------------------- who hears of them


def alarm_email_parameter() -> Json:
    return {
        "Type": "String",
        "Default": "",
        "Description": "E-mail address told of every alarm (it must confirm the subscription first); empty: none",
        "AllowedPattern": EMAIL_PATTERN,
        "MaxLength": 254,
        "ConstraintDescription": "an e-mail address, or empty",
    }


def alarm_email_conditions() -> Json:
    return {HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [ref(ALARM_EMAIL_PARAMETER), ""]}]}}


def alarm_email_subscription() -> Json:
    return {
        "Type": "AWS::SNS::Subscription",
        "Condition": HAS_ALARM_EMAIL,
        "Properties": {
            "TopicArn": data_plane.output("NotificationsTopicArn"),
            "Protocol": "email",
            "Endpoint": ref(ALARM_EMAIL_PARAMETER),
        },
    }


# ---------------------------------------------------------------- functions


def function_alarm_ids(function: Function) -> tuple[str, str]:
    """The logical ids of a function's errors and throttles alarms."""
    return (logical_id(function.logical_id, "errors", "alarm"), logical_id(function.logical_id, "throttles", "alarm"))


def function_alarms(function: Function) -> Json:
    errors, throttles = function_alarm_ids(function)
    dimensions = {"FunctionName": ref(function.logical_id)}
    return {
        errors: alarm(f"{function.name}-errors".replace("_", "-"),
                      f"The function {function.name} failed (raised or timed out): read its log "
                      "(docs/operations.md#function-errors)",
                      metric("AWS/Lambda", "Errors", dimensions)),
        throttles: alarm(f"{function.name}-throttles".replace("_", "-"),
                         f"The function {function.name} was throttled: no concurrency left "
                         "(docs/operations.md#function-throttles)",
                         metric("AWS/Lambda", "Throttles", dimensions)),
    }


# ---------------------------------------------------------------- topic rules


def rule_alarm_id(rule: Rule) -> str:
    return logical_id(rule.name, "rule", "failures", "alarm")


def rule_failures_query(rule_name: Json) -> Json:
    """Metrics Insights: the rule's action failures, whatever the action type (the metric's second dimension)."""
    return {"Fn::Join": ["", ['SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = \'',
                              rule_name, "'"]]}


def rule_alarms(rule: Rule, rule_name: Json) -> Json:
    return {
        rule_alarm_id(rule): alarm(
            f"rule-{rule.name}-failures".replace("_", "-"),
            f"The topic rule {rule.name} could not invoke its function; the message went to the failed-events "
            "queue (docs/operations.md#topic-rule-failures)",
            {"Metrics": [{"Id": "failures", "Expression": rule_failures_query(rule_name), "Period": PERIOD_S,
                          "Label": f"{rule.name} action failures", "ReturnData": True}]},
        ),
    }


# ---------------------------------------------------------------- tables


def table_alarm_id(aggregate: str) -> str:
    return logical_id(data_plane.table_logical_id(aggregate), "throttles", "alarm")


def table_name(aggregate: str) -> Json:
    return data_plane.output(f"{data_plane.table_logical_id(aggregate)}Name")


def table_alarms(aggregate: str) -> Json:
    def events(kind: str) -> Json:
        return {"Id": kind.lower(), "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": f"{kind}ThrottleEvents",
                       "Dimensions": [{"Name": "TableName", "Value": table_name(aggregate)}]},
            "Period": PERIOD_S, "Stat": "Sum"}}

    return {
        table_alarm_id(aggregate): alarm(
            f"table-{aggregate}-throttles".replace("_", "-"),
            f"DynamoDB throttled requests to the {aggregate} table (docs/operations.md#dynamodb-throttling)",
            {"Metrics": [events("Read"), events("Write"),
                         {"Id": "throttled", "Expression": "FILL(read, 0) + FILL(write, 0)",
                          "Label": f"{aggregate} throttled requests", "ReturnData": True}]},
        ),
    }
