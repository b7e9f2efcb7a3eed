"""One IAM role per Lambda function of the app, granting what that function's code path uses.

:data:`FUNCTION_ACCESS` says, per function (its ``chalice package`` name), which tables it reads and writes and
what else of AWS it uses; :func:`role` turns one entry into an ``AWS::IAM::Role``. Every role may also write its
own log group (``logs:CreateLogStream``/``PutLogEvents``, no ``logs:*:*:*``: the stack creates the group, so no
``CreateLogGroup``), and a function invoked asynchronously (by an IoT rule or the schedule) may send to the
failed-events queue, its on-failure destination.

What is read from the code (``tests/unit/infra/test_infra_function_roles.py`` records every AWS call of each
function's code path against moto and holds the table below to it):

* the rule handlers and the sweeper: their tables only;
* the API: every table, ``iot:Publish`` to the tenant's sites' down topics, the tenant's site things and their
  shadows, the site certificates (``cert/*``: certificate ids are not known in advance, and AWS authorizes
  ``AttachPolicy``, ``AttachThingPrincipal`` and the certificate calls on the certificate alone),
  ``iot:CreateCertificateFromCsr`` (authorized on ``*`` only), presigned GET/PUT/POST of media objects and
  ``s3:ListBucket`` on the media bucket (so a HEAD of a log object not uploaded yet is a 404, not a 403), and
  ``secretsmanager:GetSecretValue`` of the overview links' signing secret.

A function missing from the table is a build error: say what it uses before it ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.aws import data_plane, overview_bucket, user_pool
from infra.aws.cfn import TOKEN_NAMESPACE, Json, get_att, sub, tokens_to_sub
from infra.aws.cloud_app import Function
from infra.aws.errors import BuildError
from shared import topics

#: DynamoDB actions of a function that reads a table / that writes it (transactions are authorized per item)
READ_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
WRITE_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
                 "dynamodb:PutItem", "dynamodb:UpdateItem")
#: actions AWS authorizes only on ``*`` (no resource-level permissions); docs/security.md lists them
UNSCOPED_ACTIONS = ("iot:CreateCertificateFromCsr",)
#: actions AWS authorizes on the certificate alone (``cert/<id>``; ids are not known in advance)
CERTIFICATE_ACTIONS = ("iot:AttachPolicy", "iot:AttachThingPrincipal", "iot:DeleteCertificate", "iot:DetachPolicy",
                       "iot:DetachThingPrincipal", "iot:UpdateCertificate")
THING_ACTIONS = ("iot:CreateThing", "iot:DeleteThing", "iot:DescribeThing", "iot:UpdateThing")
SHADOW_ACTIONS = ("iot:DeleteThingShadow", "iot:GetThingShadow", "iot:UpdateThingShadow")
MEDIA_ACTIONS = ("s3:GetObject", "s3:PutObject")  # the presigned URLs the API hands out
#: on the bucket itself: without it S3 answers a HEAD of a missing object (a log not uploaded yet) 403, not 404
MEDIA_BUCKET_ACTIONS = ("s3:ListBucket",)
_ARN_IOT = "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}"
_SITE = "sitetokenxq"  # a site id in no real name


@dataclass(frozen=True, slots=True)
class Access:
    """What one function's code path uses."""

    reads: tuple[str, ...] = ()  # aggregates (tables) it reads
    writes: tuple[str, ...] = ()  # aggregates it writes (and reads)
    all_tables: bool = False  # every table of the app, read and write (the API)
    site_commands: bool = False  # iot:Publish on the tenant's sites' down topics
    site_identities: bool = False  # the tenant's site things, their shadows, the site certificates
    media: bool = False  # presigned GET/PUT of objects in the media bucket
    alerts_topic: tuple[str, ...] = ()  # SNS actions on the tenant's alerts topic
    accounts: bool = False  # the user pool's accounts (infra/aws/user_pool.py ADMIN_ACTIONS)
    overview_objects: bool = False  # writes and presigns the overview's objects (infra/aws/overview_bucket.py)


#: what sending an alert notification uses (an SNS publish; a failed webhook delivery is stored for a retry)
ALERT_SENDS = ("sns:Publish",)
API = Access(all_tables=True, site_commands=True, site_identities=True, media=True,
             alerts_topic=("sns:Publish", "sns:Subscribe", "sns:Unsubscribe"), accounts=True,
             overview_objects=True)
FUNCTION_ACCESS: dict[str, Access] = {
    "api_handler": API,
    # the site's waiting orders: read, published again (an upgrade start with a fresh presigned package URL)
    # (change_mark: every write to agents, sites, commands or events bumps its area's mark for the dashboard's polls)
    "site_heartbeat": Access(writes=("agent", "site", "site_order", "change_mark"), site_commands=True, media=True),
    "command_results": Access(writes=("command", "rollup", "change_mark")),
    "site_events": Access(reads=("agent",), writes=("event", "snapshot", "change_mark")),
    "site_sync": Access(reads=("agent",), writes=("agent_snapshot",)),
    "site_metrics": Access(reads=("agent",), writes=("metric_rollup",)),
    "expire_commands": Access(writes=("command", "rollup", "change_mark")),
    # agents a site retired: their records and tag labels deleted, their shadows deleted (or cleared), the site's
    # agents digest cleared (its next full heartbeat reads its agents again)
    "agents_retired": Access(writes=("agent", "label", "site", "site_order", "change_mark"), site_identities=True),
    "upgrade_reports": Access(writes=("upgrade_campaign", "site_order")),
    # a site's alert changes: stored if newer; notified (SNS; a failed webhook delivery is kept for its retries)
    # (and an acknowledgement made in the cloud, answered by the site's record: its order deleted)
    "site_alerts": Access(reads=("site",), writes=("alert", "alert_setting", "site_order"), alerts_topic=ALERT_SENDS),
    # IoT Core's lifecycle events of a site's client: its link state kept on the site item
    "site_presence": Access(writes=("site", "change_mark")),
    # the cloud's alert conditions (the default rules installed on first use), then the webhook retries; then the
    # overview summary's pass (its items are in change_mark; it reads every site and ClassTop client), then the
    # active scopes' overview objects (the overview reads the rollups and the day's events; its scopes are in
    # change_mark)
    "evaluate_alerts": Access(reads=("site", "client", "rollup", "event"),
                              writes=("alert", "alert_setting", "change_mark"), alerts_topic=ALERT_SENDS,
                              overview_objects=True),
    "alert_digest": Access(reads=("alert",), writes=("alert_setting",), alerts_topic=ALERT_SENDS),
}


def role_logical_id(function: Function) -> str:
    return f"{function.logical_id}Role"


def access_of(function: Function) -> Access:
    access = FUNCTION_ACCESS.get(function.name)
    if access is None:
        raise BuildError(f"function {function.name} has no entry in infra/aws/roles.py FUNCTION_ACCESS: say which "
                         "tables and AWS services its code uses")
    return access


def _table_resources(aggregate: str) -> list[Json]:
    arn = data_plane.table_arn(aggregate)
    return [arn, {"Fn::Join": ["", [arn, "/index/*"]]}]


def _table_statements(access: Access, models: tuple[Any, ...]) -> list[Json]:
    known = sorted(m.AGGREGATE for m in models)
    unknown = sorted(set(access.reads + access.writes) - set(known))
    if unknown:
        raise BuildError(f"FUNCTION_ACCESS names tables the app does not have: {unknown} (known: {known})")
    written = known if access.all_tables else sorted(set(access.writes))
    read_only = sorted(set(access.reads) - set(written))
    result = []
    if written:
        result.append({"Sid": "WriteTables", "Effect": "Allow", "Action": sorted(READ_ACTIONS + WRITE_ACTIONS),
                       "Resource": [r for a in written for r in _table_resources(a)]})
    if read_only:
        result.append({"Sid": "ReadTables", "Effect": "Allow", "Action": sorted(READ_ACTIONS),
                       "Resource": [r for a in read_only for r in _table_resources(a)]})
    return result


def _site_statements(access: Access) -> list[Json]:
    result: list[Json] = []
    if access.site_commands:
        # ct/{tenant}/{stage}/site/*/down/*: every site's down channels, nothing else
        down = tokens_to_sub(topics.site_down(TOKEN_NAMESPACE, _SITE)).replace(f"/{_SITE}/", "/*/").rsplit("/", 1)[0]
        result.append({"Sid": "PublishToTenantSites", "Effect": "Allow", "Action": "iot:Publish",
                       "Resource": sub(f"{_ARN_IOT}:topic/{down}/*")})
    if access.site_identities:
        things = tokens_to_sub(topics.site_thing_name(TOKEN_NAMESPACE, _SITE))[: -len(_SITE)] + "*"
        result += [
            {"Sid": "TenantSiteThingsAndShadows", "Effect": "Allow", "Action": sorted(THING_ACTIONS + SHADOW_ACTIONS),
             "Resource": sub(f"{_ARN_IOT}:thing/{things}")},
            {"Sid": "SiteCertificates", "Effect": "Allow", "Action": sorted(CERTIFICATE_ACTIONS),
             "Resource": sub(f"{_ARN_IOT}:cert/*")},
            {"Sid": "SignSiteCsrs", "Effect": "Allow", "Action": list(UNSCOPED_ACTIONS), "Resource": "*"},
        ]
    if access.media:
        result.append({"Sid": "MediaObjects", "Effect": "Allow", "Action": list(MEDIA_ACTIONS),
                       "Resource": {"Fn::Join": ["", [data_plane.output("MediaBucketArn"), "/*"]]}})
        result.append({"Sid": "MediaLookups", "Effect": "Allow", "Action": list(MEDIA_BUCKET_ACTIONS),
                       "Resource": data_plane.output("MediaBucketArn")})
    if access.alerts_topic:
        result.append({"Sid": "AlertsTopic", "Effect": "Allow", "Action": sorted(access.alerts_topic),
                       "Resource": data_plane.output("AlertsTopicArn")})
    if access.accounts:
        result.append({"Sid": "DashboardAccounts", "Effect": "Allow", "Action": sorted(user_pool.ADMIN_ACTIONS),
                       "Resource": user_pool.pool_arn()})
    if access.overview_objects:
        result.append({"Sid": "OverviewObjects", "Effect": "Allow", "Action": list(overview_bucket.OBJECT_ACTIONS),
                       "Resource": overview_bucket.objects_arn()})
    return result


def role(function: Function, models: tuple[Any, ...], *, log_group: str, failure_queue: str | None) -> Json:
    """The ``AWS::IAM::Role`` of ``function``: its access, its log group (logical id ``log_group``) and, for an
    asynchronously invoked function, the failed-events queue (``failure_queue``)."""
    access = access_of(function)
    statements: list[Json] = [
        {"Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": get_att(log_group, "Arn")},
        *_table_statements(access, models),
        *_site_statements(access),
    ]
    if failure_queue is not None:
        statements.append({"Sid": "OnFailureDestination", "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": get_att(failure_queue, "Arn")})
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": sub(f"ClassTop ${{TenantId}} ${{Stage}}: Lambda function {function.name}"),
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                               "Action": "sts:AssumeRole"}],
            },
            "Policies": [{"PolicyName": "function-access",
                          "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}],
            "Tags": data_plane.tags(),
        },
    }
