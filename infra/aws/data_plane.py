"""The tenant's data-plane template (``infra/aws/data-plane.yaml``): what moto's CloudFormation can deploy.

DynamoDB tables (keys, GSIs, TTL from ``chalicelib.models.MODELS``), the LMS identities' IoT policy and thing
type, the SNS topic for notifications (the alarms') and the S3 bucket for CCTV snapshots/clips
and large command output (TLS only). Parameters ``TenantId`` and ``Stage``; every name derives from them.

The tables and the bucket are the tenant's data (the audit log among them): ``DeletionPolicy`` and
``UpdateReplacePolicy`` ``Retain`` keep them when the stack is deleted or a change would replace them. The
deploy tool's ``tenant delete --purge`` deletes them on purpose (``infra.aws.retained``).
"""

from __future__ import annotations

from typing import Any

from infra.aws import cloud_app
from infra.aws.cfn import (
    STAGE_TOKEN,
    TENANT_TOKEN,
    TOKEN_NAMESPACE,
    Json,
    get_att,
    logical_id,
    name_sub,
    ref,
    sub,
    sub_from_tokens,
    tokens_to_sub,
)
from infra.aws.errors import BuildError
from infra.aws.site_policy import SITE_ID_ATTRIBUTE, site_policy_document
from shared import names

#: logical id of the nested data-plane stack in the tenant's root template (``infra/aws/root.py``)
NESTED_STACK = "DataPlane"
SITE_POLICY = "SitePolicy"
SITE_THING_TYPE = "SiteThingType"
NOTIFICATIONS_TOPIC = "NotificationsTopic"
ALERTS_TOPIC = "AlertsTopic"
MEDIA_BUCKET = "MediaBucket"
MEDIA_BUCKET_POLICY = "MediaBucketPolicy"
#: days a CCTV snapshot/clip or a large command output stays in the bucket
DEFAULT_MEDIA_RETENTION_DAYS = 90
#: the bucket prefix of the dashboard's static files, served by CloudFront (``infra/aws/site_hosting.py``)
SITE_FILES_PREFIX = "site"


def tenant_parameters() -> Json:
    """``TenantId`` and ``Stage``, with the grammar the code enforces (``shared.names``)."""
    return {
        "TenantId": {
            "Type": "String",
            "Description": "The district's tenant id: in every name and MQTT topic of the tenant",
            "AllowedPattern": names.WORDS_PATTERN,
            "MaxLength": names.TENANT_MAX,
            "ConstraintDescription": f"1-{names.TENANT_MAX} of {names.GRAMMAR}",
        },
        "Stage": {
            "Type": "String",
            "Description": "Deployment stage (dev, prod...): in every name and MQTT topic of the tenant",
            "Default": "dev",
            "AllowedPattern": names.WORDS_PATTERN,
            "MaxLength": names.STAGE_MAX,
            "ConstraintDescription": f"1-{names.STAGE_MAX} of {names.GRAMMAR}",
        },
    }


def media_retention_parameter() -> Json:
    return {
        "Type": "Number",
        "Description": "Days CCTV snapshots/clips and large command outputs are kept",
        "Default": DEFAULT_MEDIA_RETENTION_DAYS,
        "MinValue": 1,
        "MaxValue": 3650,
    }


def site_policy_name() -> Json:
    return name_sub("site-policy")


def site_thing_type_name() -> Json:
    return name_sub("site-thing")


def table_logical_id(aggregate: str) -> str:
    return logical_id(aggregate, "table")


def output(name: str) -> Json:
    """An output of the nested data plane, from the root template."""
    return get_att(NESTED_STACK, f"Outputs.{name}")


def table_arn(aggregate: str) -> Json:
    """The ARN of an aggregate's table, from the root template."""
    return output(f"{table_logical_id(aggregate)}Arn")


def _table(model: Any) -> Json:
    schema = model._get_schema()
    hash_first = {"HASH": 0, "RANGE": 1}
    key_schema = sorted(schema["key_schema"], key=lambda k: hash_first[k["KeyType"]])
    attributes = {a["AttributeName"]: a["AttributeType"] for a in schema["attribute_definitions"]}
    properties: Json = {
        "TableName": sub_from_tokens(cloud_app.table_name(model.AGGREGATE, TENANT_TOKEN, STAGE_TOKEN)),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": attributes[name]} for name in sorted(attributes)
        ],
        "KeySchema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "Tags": tags(),
    }
    billing = getattr(model.Meta, "billing_mode", None)
    if billing not in (None, "PAY_PER_REQUEST"):
        raise BuildError(f"{model.__name__}: only on-demand tables are supported, not {billing}")
    for key, indexes in (("GlobalSecondaryIndexes", "global_secondary_indexes"),
                         ("LocalSecondaryIndexes", "local_secondary_indexes")):
        if schema[indexes]:
            properties[key] = _indexes(schema[indexes], hash_first)
    if retiring := _retiring_indexes(model):  # kept one release: CloudFormation adds or drops one index an update
        properties["GlobalSecondaryIndexes"] = sorted([*properties.get("GlobalSecondaryIndexes", []), *retiring],
                                                      key=lambda index: index["IndexName"])
    ttl = ttl_attribute(model)
    if ttl is not None:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl, "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", "Properties": properties}


def _indexes(indexes: list[dict[str, Any]], hash_first: dict[str, int]) -> list[dict[str, Any]]:
    """A table's secondary indexes (PynamoDB's schema) as CloudFormation properties, by name, hash key first."""
    return [
        {
            "IndexName": index["index_name"],
            "KeySchema": [
                {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]}
                for k in sorted(index["key_schema"], key=lambda k: hash_first[k["KeyType"]])
            ],
            "Projection": _projection(index["projection"]),
        }
        for index in sorted(indexes, key=lambda i: i["index_name"])
    ]


def _retiring_indexes(model: Any) -> list[Json]:
    """The indexes a model no longer reads but its table keeps for one release (``RETIRING_INDEXES``: name ->
    (hash key, range key), both strings and keys of the model, projecting every attribute as they did)."""
    return [
        {
            "IndexName": name,
            "KeySchema": [{"AttributeName": hash_key, "KeyType": "HASH"},
                          {"AttributeName": range_key, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
        for name, (hash_key, range_key) in sorted(getattr(model, "RETIRING_INDEXES", {}).items())
    ]


def _projection(projection: Json) -> Json:
    result: Json = {"ProjectionType": projection["ProjectionType"]}
    if projection.get("NonKeyAttributes"):
        result["NonKeyAttributes"] = sorted(projection["NonKeyAttributes"])
    return result


def ttl_attribute(model: Any) -> str | None:
    from pynamodb.attributes import TTLAttribute

    names = [a.attr_name for a in model.get_attributes().values() if isinstance(a, TTLAttribute)]
    if len(names) > 1:
        raise BuildError(f"{model.__name__}: DynamoDB allows one TTL attribute, found {names}")
    return names[0] if names else None


def tags() -> list[Json]:
    return [{"Key": "classtop:tenant", "Value": ref("TenantId")}, {"Key": "classtop:stage", "Value": ref("Stage")}]


def _retained(resource: Json) -> Json:
    """The tenant's data outlives its stack: a deleted stack (or a replaced resource) keeps it."""
    return {**resource, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def _notifications() -> Json:
    """The notifications topic: the alarms publish there (nothing else does), SNS delivers to its subscribers.

    Not encrypted at rest with a KMS key (docs/security.md, "Encryption at rest"): SNS's AWS-managed key admits no
    key policy, so CloudWatch cannot publish to a topic it encrypts, and a customer-managed key ($1 a month per
    tenant stage) would guard only alarm texts (alarm names, thresholds, metric values: no tenant data) for the
    moments SNS holds them before it e-mails them in the clear. Who may publish is the topic's access policy (the
    account's principals; CloudWatch as the alarms' action), not a key."""
    return {
        NOTIFICATIONS_TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": name_sub("notifications"),
                "DisplayName": sub("ClassTop ${TenantId}"),
                "Tags": tags(),
            },
        },
    }


def _alerts_topic() -> Json:
    """The tenant's alerts topic (docs/alerts.md#notifications): the cloud publishes each alert notification with a
    ``channel_id`` attribute and each e-mail/SMS subscription filters on its own channel. Encrypted with SNS's
    AWS-managed key (only the tenant's functions publish, through SNS)."""
    return {
        ALERTS_TOPIC: {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": name_sub("alerts"),
                "DisplayName": sub("ClassTop ${TenantId} alerts"),
                "KmsMasterKeyId": "alias/aws/sns",
                "Tags": tags(),
            },
        },
    }


def _media() -> Json:
    """The media bucket: private, encrypted, expiring, retained with the stack, reachable over TLS only."""
    bucket_arn = get_att(MEDIA_BUCKET, "Arn")
    return {
        MEDIA_BUCKET: _retained({
            "Type": "AWS::S3::Bucket",
            "Properties": {
                # S3 names are global and <= 63 characters: classtop--(20)--(16)--(12 digits) is 62 at most
                "BucketName": sub(tokens_to_sub(names.resource_name(TOKEN_NAMESPACE)) + names.SEP
                                  + "${AWS::AccountId}"),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "LifecycleConfiguration": {
                    "Rules": [
                        {"Id": "expire-media", "Status": "Enabled", "ExpirationInDays": ref("MediaRetentionDays")}
                    ]
                },
                "Tags": tags(),
            },
        }),
        MEDIA_BUCKET_POLICY: {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref(MEDIA_BUCKET),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                    "Resource": [bucket_arn, {"Fn::Join": ["", [bucket_arn, "/*"]]}],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }, {
                    # the dashboard's files (infra/aws/site_hosting.py), and nothing else of the bucket, to
                    # CloudFront's origin access control of this account
                    "Sid": "DashboardFilesToCloudFront", "Effect": "Allow",
                    "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
                    "Resource": {"Fn::Join": ["", [bucket_arn, f"/{SITE_FILES_PREFIX}/*"]]},
                    "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                }]},
            },
        },
    }


def data_plane_template() -> Json:
    resources: Json = {}
    outputs: Json = {}
    for model in sorted(cloud_app.models(), key=lambda m: m.AGGREGATE):
        lid = table_logical_id(model.AGGREGATE)
        resources[lid] = _retained(_table(model))
        outputs[f"{lid}Name"] = {"Description": f"DynamoDB table of {model.__name__}", "Value": ref(lid)}
        outputs[f"{lid}Arn"] = {"Value": get_att(lid, "Arn")}
    resources[SITE_POLICY] = {
        "Type": "AWS::IoT::Policy",
        "Properties": {"PolicyName": site_policy_name(), "PolicyDocument": site_policy_document()},
    }
    resources[SITE_THING_TYPE] = {
        "Type": "AWS::IoT::ThingType",
        "Properties": {
            "ThingTypeName": site_thing_type_name(),
            "ThingTypeProperties": {
                "ThingTypeDescription": "A ClassTop site (its LMS); named ct--<tenant>--<stage>--<site>",
                "SearchableAttributes": [SITE_ID_ATTRIBUTE],
            },
        },
    }
    resources.update(_notifications())
    resources.update(_alerts_topic())
    resources.update(_media())
    # the names, not Ref (the same in AWS; moto's Ref of these two is not the name)
    outputs["SitePolicyName"] = {"Description": "IoT policy of every LMS certificate", "Value": site_policy_name()}
    outputs["SiteThingTypeName"] = {"Value": site_thing_type_name()}
    outputs["NotificationsTopicArn"] = {"Value": ref(NOTIFICATIONS_TOPIC)}
    outputs["AlertsTopicArn"] = {"Description": "The tenant's alert notifications (e-mail, SMS)",
                                 "Value": ref(ALERTS_TOPIC)}
    outputs["MediaBucketName"] = {"Value": ref(MEDIA_BUCKET)}
    outputs["MediaBucketArn"] = {"Value": get_att(MEDIA_BUCKET, "Arn")}
    outputs["MediaBucketDomainName"] = {"Value": get_att(MEDIA_BUCKET, "DomainName")}
    outputs["MediaBucketRegionalDomainName"] = {"Value": get_att(MEDIA_BUCKET, "RegionalDomainName")}
    parameters = {**tenant_parameters(), "MediaRetentionDays": media_retention_parameter()}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "ClassTop Fleet: one tenant's data plane (tables, IoT policy and thing type, topic, bucket)",
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs,
    }
