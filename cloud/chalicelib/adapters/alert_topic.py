"""The tenant's alerts topic (SNS): one e-mail or SMS subscription per channel, each with a filter policy on the
``channel_id`` message attribute, so that the cloud decides per channel (severity, quiet hours, digest) what it
sends and SNS delivers each publish to that channel's subscription only."""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import AwsAdapter, describe
from chalicelib.errors import CloudError, UpstreamError

SNSClient = Any  # no boto3 stubs for SNS are installed

CHANNEL_ATTRIBUTE = "channel_id"


class TopicNotConfigured(CloudError, status=503):
    """The deployment names no alerts topic (``CLASSTOP_ALERTS_TOPIC_ARN``)."""


class AlertTopic(Protocol):
    def subscribe(self, protocol: str, endpoint: str, channel_id: str) -> str: ...

    def unsubscribe(self, subscription_arn: str) -> None: ...

    def publish(self, channel_id: str, subject: str, message: str) -> str: ...


class SnsAlertTopic(AwsAdapter[SNSClient]):
    SERVICE = "sns"

    def __init__(self, topic_arn: str | None, client: SNSClient | None = None, *, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        super().__init__(client, endpoint_url=endpoint_url, region=region)
        self._topic_arn = topic_arn

    @property
    def topic_arn(self) -> str:
        if not self._topic_arn:
            raise TopicNotConfigured("e-mail and SMS alerts need the alerts topic: "
                                     "CLASSTOP_ALERTS_TOPIC_ARN is not set")
        return self._topic_arn

    def subscribe(self, protocol: str, endpoint: str, channel_id: str) -> str:
        try:
            response = self.client.subscribe(
                TopicArn=self.topic_arn, Protocol=protocol, Endpoint=endpoint, ReturnSubscriptionArn=True,
                Attributes={"FilterPolicy": json.dumps({CHANNEL_ATTRIBUTE: [channel_id]})})
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"SNS subscribe failed: {describe(exc)}") from exc
        return str(response.get("SubscriptionArn", "pending confirmation"))

    def unsubscribe(self, subscription_arn: str) -> None:
        if not subscription_arn.startswith("arn:"):
            return  # never confirmed: nothing to remove (SNS drops unconfirmed subscriptions itself)
        try:
            self.client.unsubscribe(SubscriptionArn=subscription_arn)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"SNS unsubscribe failed: {describe(exc)}") from exc

    def publish(self, channel_id: str, subject: str, message: str) -> str:
        try:
            response = self.client.publish(
                TopicArn=self.topic_arn, Subject=subject[:100], Message=message,
                MessageAttributes={CHANNEL_ATTRIBUTE: {"DataType": "String", "StringValue": channel_id}})
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamError(f"SNS publish failed: {describe(exc)}") from exc
        return str(response["MessageId"])
