"""Where failures go: nothing an LMS sends, and no scheduled run, is lost without a trace.

* **Failed-events queue** (``FailedEventsQueue``, SQS, encrypted, 14 days): the on-failure destination of every
  asynchronously invoked function (the IoT-rule handlers and the sweeper: Lambda retries an event twice, then
  sends the invocation record - the event and the error - here), and the ``errorAction`` of every topic rule (a
  message the rule could not hand to Lambda at all, e.g. throttled or missing permission).
* **Alarms** to the tenant's notifications topic: a message in the failed-events queue; API Gateway answering
  5xx.
"""

from __future__ import annotations

from infra.aws import data_plane
from infra.aws.alarms import alarm, metric
from infra.aws.cfn import Json, get_att, name_sub, ref, sub

FAILED_EVENTS_QUEUE = "FailedEventsQueue"
RULE_ERRORS_ROLE = "RuleErrorsRole"
FAILED_EVENTS_ALARM = "FailedEventsAlarm"
API_ERRORS_ALARM = "ApiErrorsAlarm"
#: Lambda's asynchronous retries before the on-failure destination (its default and maximum)
MAX_RETRY_ATTEMPTS = 2
#: an event not processed within this long goes to the destination (6 h: Lambda's default and maximum)
MAX_EVENT_AGE_S = 6 * 3600
QUEUE_RETENTION_S = 14 * 24 * 3600  # SQS's maximum
#: API Gateway 5xx answers in 5 minutes that raise the API alarm
API_ERRORS_THRESHOLD = 5


def failed_events_queue() -> Json:
    return {
        "Type": "AWS::SQS::Queue",
        "Properties": {
            "QueueName": name_sub("failed-events"),
            "MessageRetentionPeriod": QUEUE_RETENTION_S,
            "SqsManagedSseEnabled": True,
            "Tags": data_plane.tags(),
        },
    }


def event_invoke_config() -> Json:
    """SAM ``EventInvokeConfig`` of an asynchronously invoked function: bounded retries, then the queue."""
    return {
        "MaximumRetryAttempts": MAX_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_S,
        "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": get_att(FAILED_EVENTS_QUEUE, "Arn")}},
    }


def rule_errors_role() -> Json:
    """The role IoT Core assumes to put a message its rule could not deliver into the queue (this account's
    rules only)."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": sub("ClassTop ${TenantId} ${Stage}: IoT topic rules' errorAction"),
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": "iot.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                }],
            },
            "Policies": [{
                "PolicyName": "rule-errors",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "FailedEventsQueue", "Effect": "Allow", "Action": "sqs:SendMessage",
                    "Resource": get_att(FAILED_EVENTS_QUEUE, "Arn"),
                }]},
            }],
            "Tags": data_plane.tags(),
        },
    }


def rule_error_action() -> Json:
    return {"Sqs": {"QueueUrl": ref(FAILED_EVENTS_QUEUE), "RoleArn": get_att(RULE_ERRORS_ROLE, "Arn"),
                    "UseBase64": False}}


def alarms(api_id: Json, api_stage: str) -> Json:
    return {
        FAILED_EVENTS_ALARM: alarm(
            "failed-events",
            "A site's message or a scheduled run failed after Lambda's retries (or a rule could not deliver it): "
            "read the failed-events queue",
            metric("AWS/SQS", "ApproximateNumberOfMessagesVisible",
                   {"QueueName": get_att(FAILED_EVENTS_QUEUE, "QueueName")}, statistic="Maximum"),
        ),
        API_ERRORS_ALARM: alarm(
            "api-errors",
            f"The cloud API answered 5xx at least {API_ERRORS_THRESHOLD} times in 5 minutes",
            # an HTTP API's metric: "5xx" by ApiId and Stage (a REST API's is "5XXError" by ApiName)
            metric("AWS/ApiGateway", "5xx", {"ApiId": api_id, "Stage": api_stage}),
            threshold=API_ERRORS_THRESHOLD,
        ),
    }
