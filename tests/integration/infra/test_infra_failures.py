"""Failures have somewhere to go, logs expire, and a tenant's data outlives its stack (issue 11, item 14; and
the low items on the SNS topics' encryption and the media bucket's TLS-only policy).

The deploy tool runs against a real moto server: an object in the media bucket and an entry in the audit log
survive ``tenant delete``; a new deploy over the kept data is refused with what to do; ``--purge`` (also after a
plain delete) empties the bucket and deletes bucket and tables. The template is checked after AWS's SAM
translator: every asynchronously invoked function has an on-failure destination, every topic rule an
``errorAction``, every log group an expiry, the stateful resources ``Retain``; alarms watch the failures.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.models import MODELS
from infra.aws import cloud_app
from infra.aws.cfn_eval import TemplateEval
from tests.integration.infra.moto_deploy import ACCOUNT, client, tool
from tests.unit.infra.stack_templates import evaluate, load, translated

pytestmark = pytest.mark.integration

TENANT = "keeper"


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def kept_names() -> tuple[set[str], str]:
    tables = {f"classtop--{TENANT}--dev--{m.AGGREGATE}" for m in MODELS}
    return tables, f"classtop--{TENANT}--dev--{ACCOUNT}"


def existing(url: str) -> tuple[set[str], set[str]]:
    return (set(client("dynamodb", url).list_tables()["TableNames"]),
            {b["Name"] for b in client("s3", url).list_buckets()["Buckets"]})


def test_failures_have_destinations_and_data_is_retained(moto_url: str) -> None:
    url = ["--tenant", TENANT, "--endpoint-url", moto_url, "--poll", "0.2"]
    tables, bucket = kept_names()
    audit = f"classtop--{TENANT}--dev--audit"
    try:
        deployed = tool("deploy", "--data-plane-only", "--no-admin-token", *url)
        assert deployed.returncode == 0, deployed.stderr
        client("s3", moto_url).put_object(Bucket=bucket, Key="snapshots/s1/pc-1/door/1.jpg", Body=b"jpeg")
        client("dynamodb", moto_url).put_item(TableName=audit, Item={
            key["AttributeName"]: {"S": "evidence"}
            for key in client("dynamodb", moto_url).describe_table(TableName=audit)["Table"]["KeySchema"]})

        # delete keeps the data (and says so); the stack is gone
        deleted = tool("delete", "--yes", *url)
        assert deleted.returncode == 0, deleted.stderr
        have_tables, have_buckets = existing(moto_url)
        assert tables <= have_tables, "the tables (the audit log among them) died with the stack"
        assert bucket in have_buckets, "the media bucket died with the stack"
        assert client("dynamodb", moto_url).scan(TableName=audit)["Count"] == 1
        assert client("s3", moto_url).get_object(Bucket=bucket, Key="snapshots/s1/pc-1/door/1.jpg")["Body"].read()
        assert f"kept bucket {bucket}" in deleted.stdout and f"kept table {audit}" in deleted.stdout
        assert "--purge" in deleted.stdout
        assert "keeper" not in [line.split("\t")[0] for line in tool("list", *url[2:]).stdout.splitlines()]

        # no new stack over the kept data: the tool says what to do
        again = tool("deploy", "--data-plane-only", "--no-admin-token", *url)
        assert again.returncode == 1 and "still has the data its deleted stack kept" in again.stderr
        assert "--purge --yes" in again.stderr

        # --purge after the stack is gone: the bucket emptied, bucket and tables deleted
        purged = tool("delete", "--yes", "--purge", *url)
        assert purged.returncode == 0, purged.stderr
        have_tables, have_buckets = existing(moto_url)
        assert not tables & have_tables and bucket not in have_buckets
        nothing = tool("delete", "--yes", "--purge", *url)
        assert nothing.returncode == 1 and "unknown tenant keeper" in nothing.stderr

        # and with the stack still there, one --purge does both
        assert tool("deploy", "--data-plane-only", "--no-admin-token", *url).returncode == 0
        client("s3", moto_url).put_object(Bucket=bucket, Key="x", Body=b"x")
        assert tool("delete", "--yes", "--purge", *url).returncode == 0
        have_tables, have_buckets = existing(moto_url)
        assert not tables & have_tables and bucket not in have_buckets
    finally:
        tool("delete", "--yes", "--purge", *url)

    check_the_template()


def check_the_template() -> None:
    sam = translated()
    resources = sam["Resources"]
    queues = of_type(sam, "AWS::SQS::Queue")
    assert len(queues) == 1
    queue_id = next(iter(queues))
    queue = queues[queue_id]["Properties"]
    assert queue.get("SqsManagedSseEnabled") or queue.get("KmsMasterKeyId"), "the failed-events queue is not encrypted"

    # every function an IoT rule or the schedule invokes (asynchronously): bounded retries, then the queue
    functions = {f.logical_id for f in cloud_app.functions()}
    asynchronous = functions - {cloud_app.API_HANDLER}
    configs = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
               for c in of_type(sam, "AWS::Lambda::EventInvokeConfig").values()}
    assert set(configs) == asynchronous, "an asynchronously invoked function has no invoke config"
    for name, config in configs.items():
        assert config["MaximumRetryAttempts"] <= 2 and config["MaximumEventAgeInSeconds"] <= 6 * 3600
        failure = config["DestinationConfig"]["OnFailure"]["Destination"]
        assert failure == {"Fn::GetAtt": [queue_id, "Arn"]}, name

    # every topic rule: an errorAction into the queue, through a role IoT may assume and that may send there
    stack = evaluate()
    queue_arn = stack.get_att(queue_id, "Arn")
    rules = of_type(sam, "AWS::IoT::TopicRule")
    assert rules
    for lid, rule in rules.items():
        error = rule["Properties"]["TopicRulePayload"].get("ErrorAction", {}).get("Sqs")
        assert error and error["QueueUrl"] == {"Ref": queue_id}, f"{lid} has no errorAction into the queue"
        role = resources[error["RoleArn"]["Fn::GetAtt"][0]]
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "iot.amazonaws.com"}]
        may = _statements(stack, error["RoleArn"]["Fn::GetAtt"][0])
        assert any(s["Action"] == "sqs:SendMessage" and s["Resource"] == queue_arn for s in may)

    # every log group expires; every function logs to one of them
    groups = of_type(sam, "AWS::Logs::LogGroup")
    assert all(g["Properties"].get("RetentionInDays") for g in groups.values())
    for lid in functions:
        logging = resources[lid]["Properties"].get("LoggingConfig", {})
        assert logging.get("LogGroup", {}).get("Ref") in groups, f"{lid} logs to a group the stack does not own"

    # alarms on the queue and on the API's errors, to the tenant's notifications topic
    alarms = of_type(sam, "AWS::CloudWatch::Alarm")
    watched = {a["Properties"].get("MetricName") for a in alarms.values()}  # others: metric math (test_infra_alarms)
    assert {"ApproximateNumberOfMessagesVisible", "5xx"} <= watched  # 5xx: an HTTP API's metric
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Fn::GetAtt": ["DataPlane", "Outputs.NotificationsTopicArn"]}]

    # the data plane: stateful resources retained, topic encrypted, bucket TLS only
    data_plane = load("infra/aws/data-plane.yaml")["Resources"]
    for lid, spec in data_plane.items():
        if spec["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket"):
            assert spec.get("DeletionPolicy") == spec.get("UpdateReplacePolicy") == "Retain", lid
    # the alerts topic carries the tenant's alert texts: encrypted; the notifications topic carries only alarm
    # texts, and CloudWatch could publish only with a customer-managed key ($1 a month): docs/security.md
    topics = of_type({"Resources": data_plane}, "AWS::SNS::Topic")
    assert topics["AlertsTopic"]["Properties"].get("KmsMasterKeyId"), "the alerts topic is plain"
    assert not of_type({"Resources": data_plane}, "AWS::KMS::Key")
    policies = of_type({"Resources": data_plane}, "AWS::S3::BucketPolicy")
    denies = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
              if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
    assert denies and denies[0]["Action"] == "s3:*" and denies[0]["Principal"] == "*"


def _statements(stack: TemplateEval, role_id: str) -> list[dict[str, Any]]:
    role = next(r for r in stack.resources() if r.logical_id == role_id)
    return [s for p in role.properties["Policies"] for s in p["PolicyDocument"]["Statement"]]

