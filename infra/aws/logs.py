"""The tenant's log groups: one per Lambda function and one for API Gateway's access log, all created by the
stack (so no role needs ``logs:CreateLogGroup``) and all expiring after ``LogRetentionDays``.

A function logs to its own group through ``LoggingConfig`` (not Lambda's default ``/aws/lambda/<name>``, which
Lambda would create on first use with no expiry and which no role could be scoped to before the function exists).
"""

from __future__ import annotations

from infra.aws.cfn import Json, logical_id, name_sub, ref
from infra.aws.cloud_app import Function

LOG_RETENTION_PARAMETER = "LogRetentionDays"
DEFAULT_LOG_RETENTION_DAYS = 90
#: the values CloudWatch Logs accepts for RetentionInDays
RETENTION_CHOICES = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                     3288, 3653)
API_ACCESS_LOGS = "ApiAccessLogs"


def retention_parameter() -> Json:
    return {
        "Type": "Number",
        "Description": "Days the functions' logs and the API access log are kept",
        "Default": DEFAULT_LOG_RETENTION_DAYS,
        "AllowedValues": list(RETENTION_CHOICES),
    }


def function_log_group_id(function: Function) -> str:
    return logical_id(function.logical_id, "log", "group")


def _log_group(*name: str) -> Json:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": name_sub(*name), "RetentionInDays": ref(LOG_RETENTION_PARAMETER)},
    }


def function_log_group(function: Function) -> Json:
    """``classtop--{tenant}--{stage}--lambda--{function}``."""
    return _log_group("lambda", function.name)


def logging_config(function: Function) -> Json:
    """The function's ``LoggingConfig``: its own group."""
    return {"LogGroup": ref(function_log_group_id(function)), "LogFormat": "Text"}


def api_access_log_group() -> Json:
    return _log_group("api-access")
