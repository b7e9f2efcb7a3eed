"""API Gateway's CloudWatch role: an account-and-region setting that access logging needs.

A REST API stage logs to CloudWatch only when the account's API Gateway settings name a role API Gateway may
assume to write logs. It is one setting for every API of the account and region, so no tenant stack owns it (a
stack that set it would break the other tenants' logs when deleted): the deploy tool sets it, once, when it is
missing - a role ``classtop-apigateway-cloudwatch`` that API Gateway alone may assume, with the permissions of AWS's
managed policy for exactly this (``AmazonAPIGatewayPushToCloudWatchLogs``, written inline: the role serves every
API of the account, as AWS's policy does) - and leaves a role that is already set alone. ``tenant delete`` never
removes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from infra.aws.clients import Clients, aws_errors
from infra.aws.errors import AwsError

ROLE_NAME = "classtop-apigateway-cloudwatch"
#: AmazonAPIGatewayPushToCloudWatchLogs: what API Gateway needs to write any API's logs of the account
PUSH_TO_CLOUDWATCH_LOGS = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups", "logs:DescribeLogStreams",
               "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"],
    "Resource": "*",
}]}
#: a new role takes a few seconds to be usable by API Gateway (IAM is eventually consistent)
ATTEMPTS, PAUSE_S = 10, 3.0


def ensure_api_gateway_logging(clients: Clients, *, progress: Callable[[str], None] = print,
                               pause_s: float = PAUSE_S) -> str:
    """The account's API Gateway CloudWatch role ARN, set to :data:`ROLE_NAME` first if none is set."""
    apigateway = clients.client("apigateway")
    with aws_errors("read the API Gateway account settings"):
        current = apigateway.get_account().get("cloudwatchRoleArn")
    if current:
        return str(current)
    arn = _role(clients, progress)
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with aws_errors("set the API Gateway CloudWatch role"):
                apigateway.update_account(patchOperations=[
                    {"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])
            break
        except AwsError:
            if attempt == ATTEMPTS:
                raise
            time.sleep(pause_s)  # the new role is not visible to API Gateway yet
    progress(f"API Gateway logs to CloudWatch as {arn} (account setting, shared by every tenant)")
    return arn


def _role(clients: Clients, progress: Callable[[str], None]) -> str:
    iam = clients.client("iam")
    try:
        with aws_errors(f"look up role {ROLE_NAME}"):
            return str(iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"])
    except AwsError as exc:
        if "NoSuchEntity" not in exc.message:
            raise
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    progress(f"creating role {ROLE_NAME} for API Gateway's access logs")
    with aws_errors(f"create role {ROLE_NAME}"):
        arn = str(iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust),
                                  Description="API Gateway writes access logs to CloudWatch (ClassTop Fleet)")
                  ["Role"]["Arn"])
        iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="push-to-cloudwatch-logs",
                            PolicyDocument=json.dumps(PUSH_TO_CLOUDWATCH_LOGS))
    return arn
