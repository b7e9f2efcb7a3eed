"""The tenant's private bucket of the dashboard overview's objects (``cloud/chalicelib/services/overview_feed.py``):
one small gzip-encoded JSON object per active scope, written by the API function (a new scope's first link) and the
minute's pass (``evaluate_alerts``), read by the dashboard through presigned GET URLs (docs/security.md).

* **Private**: Block Public Access on every switch, no ACLs (bucket owner enforced), SSE-S3, and a bucket policy
  that refuses any request not over TLS; nothing but a presigned URL of a role allowed ``s3:GetObject`` reads it.
* **CORS**: the dashboard's origin alone (the distribution's domain, ``infra/aws/site_hosting.py``), ``GET`` alone,
  with ``If-None-Match`` (the dashboard's conditional polls) and ``ETag`` readable by the page.
* **Lifecycle**: objects expire after :data:`EXPIRE_DAYS` (the pass writes an active scope's object again well
  before: ``REWRITE_S``); a lapsed scope's object goes with it.

The name is computed, never a ``Ref``: the functions' environment, their roles and the dashboard's CSP name the bucket
while the bucket's CORS names the distribution, which depends on the API and so on the functions (a ``Ref`` either
way would be a cycle). S3 names are global and <= 63 characters: ``ctov--(20)--(16)--(12 digits)`` is 58 at most.
"""

from __future__ import annotations

from infra.aws import data_plane
from infra.aws.cfn import TOKEN_NAMESPACE, Json, ref, sub, tokens_to_sub

OVERVIEW_BUCKET = "OverviewBucket"
OVERVIEW_BUCKET_POLICY = "OverviewBucketPolicy"
#: what the API function (presigning GETs, writing a new scope's object) and the pass (writing) may do
OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject")
#: the prefix of the objects (``chalicelib.services.overview_feed.OBJECT_PREFIX``'s first part)
OBJECT_PREFIX = "overview/"
EXPIRE_DAYS = 1
#: how long a browser may keep a preflight's answer (one per presigned URL; a URL lives 900 s)
CORS_MAX_AGE_S = 900
_NAME = "ctov--" + tokens_to_sub(f"{TOKEN_NAMESPACE.tenant}--{TOKEN_NAMESPACE.stage}") + "--${AWS::AccountId}"


def bucket_name() -> Json:
    return sub(_NAME)


def bucket_arn() -> Json:
    return sub(f"arn:${{AWS::Partition}}:s3:::{_NAME}")


def objects_arn() -> Json:
    return sub(f"arn:${{AWS::Partition}}:s3:::{_NAME}/{OBJECT_PREFIX}*")


def connect_sources() -> str:
    """The bucket's HTTPS origins (presigned URLs use one of them, by region), as ``Fn::Sub`` text."""
    return f"https://{_NAME}.s3.amazonaws.com https://{_NAME}.s3.${{AWS::Region}}.amazonaws.com"


def environment() -> Json:
    return {"CLASSTOP_OVERVIEW_BUCKET": bucket_name()}


def resources(dashboard_domain: Json) -> Json:
    """The bucket and its policy; ``dashboard_domain`` the distribution's domain name (its CORS origin)."""
    return {
        OVERVIEW_BUCKET: {
            "Type": "AWS::S3::Bucket",
            # derived data only, but a stack is not deleted while its bucket holds objects: kept, it empties itself
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": bucket_name(),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "CorsConfiguration": {
                    "CorsRules": [
                        {
                            "Id": "dashboard-polls",
                            "AllowedOrigins": [{"Fn::Sub": ["https://${Domain}", {"Domain": dashboard_domain}]}],
                            "AllowedMethods": ["GET"],
                            "AllowedHeaders": ["If-None-Match"],
                            "ExposedHeaders": ["ETag"],
                            "MaxAge": CORS_MAX_AGE_S,
                        }
                    ]
                },
                "LifecycleConfiguration": {
                    "Rules": [{"Id": "expire-overviews", "Status": "Enabled", "ExpirationInDays": EXPIRE_DAYS}]
                },
                "Tags": data_plane.tags(),
            },
        },
        OVERVIEW_BUCKET_POLICY: {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref(OVERVIEW_BUCKET),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn(), {"Fn::Join": ["", [bucket_arn(), "/*"]]}],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }
