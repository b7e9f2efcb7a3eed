"""The metric filters that turn every function's failures into ONE custom metric of the tenant stage.

CloudWatch Logs metric filters cost nothing; the metric they publish is one custom metric ($0.30 a month), read
by one alarm (:func:`infra.aws.alarms.function_failures_alarm`), instead of an ``Errors`` and a ``Throttles``
alarm per function. Namespace ``ClassTopFleet/classtop--{tenant}--{stage}``, metric :data:`METRIC_NAME`, no
dimension (a filter's dimension can only be a field of the log event, and a dimension value is a metric of its
own): the alarm says *that* a function failed, the Logs Insights query :data:`FIND_QUERY` (docs/operations.md)
says which and why.

Two filters on each function's log group (:mod:`infra.aws.logs`), both adding 1 per matching event:

* :data:`APP_ERRORS_PATTERN`, a JSON pattern: a line the app logs at ``ERROR`` or ``CRITICAL`` (powertools' JSON
  lines, ``cloud/chalicelib/observability.py``): an upstream failure (DynamoDB throttled beyond the SDK's retries,
  IoT Core refused), a rule handler's unexpected error (the event is dropped, Lambda sees a success), an API
  route's unhandled error (a 500), an audit entry lost;
* :data:`RUNTIME_FAILURES_PATTERN`, a regular expression: the lines Lambda and the Python runtime write
  themselves (LogFormat ``Text``): an unhandled exception or an import failure (``[ERROR] Type: message``), a
  timeout (``<time> <request id> Task timed out after N seconds``), a runtime that exited (``RequestId: <id>
  Error: Runtime exited ...``: out of memory, a crash), and the ``REPORT`` line of an invocation that timed out
  or failed (``Status: timeout`` / ``Status: error``).

Every branch of the regular expression is anchored at the start of the event, and every app line is a JSON object
(it starts with ``{``): text a site or a caller gets into a logged message (``Task timed out``, ``[ERROR]``)
cannot raise the alarm; the JSON pattern reads the ``level`` field, not the text.
"""

from __future__ import annotations

from infra.aws import alarms, logs
from infra.aws.cfn import TOKEN_NAMESPACE, Json, logical_id, ref, sub, tokens_to_sub
from infra.aws.cloud_app import Function
from shared.names import resource_name

METRIC_NAME = "FunctionFailures"
APP_ERRORS_PATTERN = '{ ($.level = "ERROR") || ($.level = "CRITICAL") }'
RUNTIME_FAILURES_PATTERN = (
    r"%^\[ERROR\]|^\[CRITICAL\]|^RequestId:.*Error:|^[0-9][0-9TZ:.-]*.[0-9a-f-]+.Task.timed.out"
    r"|^REPORT.*Status:.timeout|^REPORT.*Status:.error%"
)
#: (filter id suffix, pattern) of each function's filters
FILTERS = (("app", "errors", APP_ERRORS_PATTERN), ("runtime", "failures", RUNTIME_FAILURES_PATTERN))
#: CloudWatch Logs Insights, over the stack's function log groups: which function failed, how, and the lines
FIND_QUERY = (
    "fields @timestamp, @log, level, function_name, site_id, command_id, message, exception\n"
    '| filter level in ["ERROR", "CRITICAL"] or @message like /^\\[ERROR\\]|^\\[CRITICAL\\]|Task timed out'
    "|Runtime exited|Status: timeout|Status: error/\n"
    "| sort @timestamp desc\n"
    "| limit 100"
)


def namespace() -> Json:
    """``ClassTopFleet/classtop--{tenant}--{stage}``: one metric per tenant stage, however many share the account."""
    return sub(f"{alarms.APP_NAMESPACE}/{tokens_to_sub(resource_name(TOKEN_NAMESPACE))}")


def filter_ids(function: Function) -> tuple[str, ...]:
    return tuple(logical_id(function.logical_id, *words, "filter") for *words, _ in FILTERS)


def function_filters(function: Function) -> Json:
    """The function's metric filters on its own log group."""
    return {
        lid: {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": ref(logs.function_log_group_id(function)),
                "FilterPattern": pattern,
                "MetricTransformations": [
                    {"MetricNamespace": namespace(), "MetricName": METRIC_NAME, "MetricValue": "1", "Unit": "Count"}
                ],
            },
        }
        for lid, (*_, pattern) in zip(filter_ids(function), FILTERS, strict=True)
    }


def resources(functions: list[Function]) -> Json:
    """Every function's filters and the one alarm on what they count."""
    found: Json = alarms.function_failures_alarm(namespace(), METRIC_NAME)
    for function in functions:
        found.update(function_filters(function))
    return found
