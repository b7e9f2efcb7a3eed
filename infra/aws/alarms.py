"""The tenant's CloudWatch alarms, and who hears of them.

Every alarm notifies the tenant's notifications topic (the data plane's); the deploy parameter ``AlarmEmail``
(optional: empty by default) subscribes an address to it. Each alarm looks at one 5-minute period of ONE metric
(CloudWatch bills an alarm per metric it reads, metric math included) and goes off at the first event
(``GreaterThanOrEqualToThreshold`` 1): in a healthy stack none of these happen. ``docs/operations.md`` says what
each alarm means, what to do, and the Logs Insights query that names the function.

Three alarms per tenant stage, whatever the number of functions, rules and tables:

* **function failures** (:data:`FUNCTION_FAILURES_ALARM`): the custom metric the functions' log groups' metric
  filters publish (:mod:`infra.aws.failure_filters`): an invocation that raised, timed out or whose runtime
  exited, and every line the app logs at ``ERROR`` (an upstream failure such as a DynamoDB throttle the SDK's
  retries did not absorb, a rule handler's bug that dropped an event, an audit entry lost);
* the **failed-events queue** and the API's **5xx** answers (:mod:`infra.aws.failures`): a topic rule that could
  not invoke its function, or whose function failed for good (throttled for longer than the event's maximum age
  included), parks the event there; a throttled or failing API request is a 5xx.
"""

from __future__ import annotations

from typing import Any

from infra.aws import data_plane
from infra.aws.cfn import Json, name_sub, ref

ALARM_EMAIL_PARAMETER = "AlarmEmail"
HAS_ALARM_EMAIL = "HasAlarmEmail"
ALARM_EMAIL_SUBSCRIPTION = "AlarmEmailSubscription"
FUNCTION_FAILURES_ALARM = "FunctionFailuresAlarm"
#: seconds of data each alarm evaluates
PERIOD_S = 300
#: the namespace of the functions' own metrics (EMF, cloud/chalicelib/observability.py)
APP_NAMESPACE = "ClassTopFleet"
#: a loose check of an address (SNS sends it a confirmation e-mail; nothing is delivered before it is confirmed)
EMAIL_PATTERN = r"^$|^[^\s@]+@[^\s@]+\.[^\s@]+$"


def metric(namespace: Any, name: str, dimensions: dict[str, Any], statistic: str = "Sum") -> Json:
    """An alarm's single metric, over :data:`PERIOD_S`."""
    measured: Json = {"Namespace": namespace, "MetricName": name, "Statistic": statistic, "Period": PERIOD_S}
    if dimensions:
        measured["Dimensions"] = [{"Name": key, "Value": value} for key, value in dimensions.items()]
    return measured


def alarm(name: str, description: str, measured: Json, threshold: float = 1) -> Json:
    """An alarm named ``classtop--{tenant}--{stage}--{name}`` on ``measured`` (:func:`metric`), at or above
    ``threshold`` in one period, to the notifications topic."""
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


# ---------------------------------------------------------------- the functions


def function_failures_alarm(namespace: Json, metric_name: str) -> Json:
    """The alarm on the metric every function's failure filters publish (no dimension: a filter cannot give the
    function's name as one for free; the Logs Insights query of docs/operations.md#function-failures finds it)."""
    return {
        FUNCTION_FAILURES_ALARM: alarm(
            "function-failures",
            "A function failed (raised, timed out, its runtime exited) or logged an error: run the Logs Insights "
            "query of docs/operations.md#function-failures over the stack's function log groups",
            metric(namespace, metric_name, {}),
        ),
    }
