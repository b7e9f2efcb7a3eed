"""Runtime configuration of the cloud plane, read from the environment once and validated."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from chalicelib.errors import ConfigError
from shared.errors import InvalidName
from shared.names import Namespace, check_stage, check_tenant, resource_name

_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
#: loose on purpose: S3 checks the name, and older us-east-1 buckets may have capitals and underscores
_BUCKET_RE = re.compile(r"^[^\s/]{3,255}$")

#: ``{region}_{id}`` (moto's ids are longer than AWS's)
_POOL_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d_[0-9A-Za-z]{1,64}$")
_CLIENT_RE = re.compile(r"^[0-9A-Za-z]{1,128}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

DEFAULT_MAX_BODY_BYTES = 256 * 1024
#: admission policies for callers without credentials (ClassTop clients, seed LMSs)
POLICIES = ("open", "approval", "closed")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the cloud plane needs from its environment.

    ``aws_endpoint`` (``CLASSTOP_AWS_ENDPOINT``) points DynamoDB, iot and iot-data at one URL (the local twin's
    moto server); it is absent in AWS.
    """

    tenant: str
    stage: str
    region: str
    aws_endpoint: str | None = None
    iot_data_endpoint: str | None = None
    table_prefix: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: DynamoDB TTL of a command record (seconds after creation).
    command_retention_s: int = 30 * 24 * 3600
    #: how long a site may hold a command for an offline agent before dropping it (SiteCommand.expires_at).
    command_delivery_window_s: int = 24 * 3600
    #: most agents one API call may target (the per-agent results live in the command item, <= 400 KB).
    max_targets: int = 500
    #: per-agent result ``data`` larger than this (JSON bytes) is stored as a truncated preview.
    result_data_limit: int = 16 * 1024
    #: a site's heartbeat refreshes its stored ``last_heartbeat`` when the stored one is at least this old (or
    #: something else changed): every full heartbeat of the LMS's 60 s period, even from a clock a little slow,
    #: every other one of a 30 s period; the stored stamp lags by under a minute in steady state
    site_touch_interval_s: int = 50
    #: unchanged ClassTop clients (no credentials): ``open``, ``approval`` (kept but pending) or ``closed``.
    client_policy: str = "approval"
    #: an LMS registering without an enrolment token: ``open``, ``approval`` or ``closed``.
    lms_policy: str = "approval"
    #: the IoT policy attached to every site certificate (created by the template); default
    #: ``classtop--{tenant}--{stage}--site-policy``, the template's name.
    iot_site_policy: str = ""
    #: the thing type of site things (created by the template), or none.
    iot_site_thing_type: str | None = None
    #: one ClassTop sync snapshot (JSON) may not exceed this many bytes (DynamoDB items stop at 400 KB).
    max_snapshot_bytes: int = 300 * 1024
    #: DynamoDB TTL of audit entries (seconds).
    audit_retention_s: int = 365 * 24 * 3600
    #: lifetime of an enrolment token (seconds).
    enrolment_ttl_s: int = 7 * 24 * 3600
    #: the tenant's media bucket (CCTV snapshots), created by the template; none: media endpoints answer 503.
    media_bucket: str | None = None
    #: ClassTop ``/api/sync`` (no credentials): at most this many uploads that change a client's stored data per
    #: client uuid, and per source address, in each window of ``sync_window_s`` seconds (unchanged uploads are free)
    sync_writes_per_client: int = 20
    sync_writes_per_source: int = 1000
    sync_window_s: int = 3600
    #: an order waiting for a site (a retirement, an upgrade campaign's start or cancel) is published again after
    #: the site's full heartbeats, at most this often (seconds; chalicelib.services.site_orders)
    order_resend_s: int = 60
    #: a site whose heartbeats stopped this long ago is unreachable (presence per hop, the cloud's alert
    #: conditions); the stored ``last_heartbeat`` lags by up to one heartbeat period (60 s): two lost heartbeats
    #: in a row are no outage
    site_stale_s: int = 180
    #: DynamoDB TTL of a resolved alert (seconds after it resolved): the alert history
    alert_retention_s: int = 90 * 24 * 3600
    #: the tenant's alerts topic (SNS, created by the template): e-mail and SMS channels; none: those answer 503
    alerts_topic_arn: str | None = None
    #: the tenant's Cognito user pool and its app client (the dashboard's accounts); none: only API tokens
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    #: where the pool's JWKS is read; default ``{issuer}/.well-known/jwks.json`` (the twin: moto's server)
    user_pool_jwks_url: str | None = None
    #: an invitation answers the temporary password (the local twin, which sends no e-mail); refused unless
    #: ``aws_endpoint`` is a loopback URL, so no deployed stage can turn it on
    reveal_temporary_passwords: bool = False
    #: the tenant's private bucket of the overview's objects (``services/overview_feed.py``; made by the template):
    #: the dashboard polls them with presigned URLs; none: ``GET /api/overview/feed`` answers 503
    overview_bucket: str | None = None

    def __post_init__(self) -> None:
        for name, check, value in (("CLASSTOP_TENANT", check_tenant, self.tenant),
                                   ("CLASSTOP_STAGE", check_stage, self.stage)):
            try:
                check(value)
            except InvalidName as exc:
                raise ConfigError(f"{name}: {exc.message}") from None
        if not self.region:
            raise ConfigError("AWS_DEFAULT_REGION (or AWS_REGION) is not set")
        for name, url in (("CLASSTOP_AWS_ENDPOINT", self.aws_endpoint),
                          ("CLASSTOP_IOT_DATA_ENDPOINT", self.iot_data_endpoint)):
            if url is not None:
                parsed = urlparse(url)
                if parsed.scheme not in ("http", "https") or not parsed.netloc:
                    raise ConfigError(f"{name}: not an http(s) URL: {url!r}")
        if self.table_prefix is not None and not _PREFIX_RE.match(self.table_prefix):
            raise ConfigError(f"CLASSTOP_TABLE_PREFIX: invalid table prefix {self.table_prefix!r}")
        for name, policy in (("CLASSTOP_CLIENT_POLICY", self.client_policy),
                             ("CLASSTOP_LMS_POLICY", self.lms_policy)):
            if policy not in POLICIES:
                raise ConfigError(f"{name}: must be one of {', '.join(POLICIES)}, not {policy!r}")
        if not self.iot_site_policy:
            object.__setattr__(self, "iot_site_policy", resource_name(self.namespace, "site-policy"))
        if self.iot_site_thing_type is not None and not 1 <= len(self.iot_site_thing_type) <= 128:
            raise ConfigError("CLASSTOP_IOT_SITE_THING_TYPE: 1-128 characters")  # AWS checks the name itself
        if not _PREFIX_RE.match(self.iot_site_policy):
            raise ConfigError(f"CLASSTOP_IOT_SITE_POLICY: invalid policy name {self.iot_site_policy!r}")
        for name, bucket in (("CLASSTOP_MEDIA_BUCKET", self.media_bucket),
                             ("CLASSTOP_OVERVIEW_BUCKET", self.overview_bucket)):
            if bucket is not None and not _BUCKET_RE.match(bucket):
                raise ConfigError(f"{name}: invalid bucket name {bucket!r}")
        if (self.user_pool_id is None) != (self.user_pool_client_id is None):
            raise ConfigError("CLASSTOP_USER_POOL_ID and CLASSTOP_USER_POOL_CLIENT_ID go together")
        if self.user_pool_id is not None and not _POOL_RE.match(self.user_pool_id):
            raise ConfigError(f"CLASSTOP_USER_POOL_ID: not a user pool id: {self.user_pool_id!r}")
        if self.user_pool_client_id is not None and not _CLIENT_RE.match(self.user_pool_client_id):
            raise ConfigError("CLASSTOP_USER_POOL_CLIENT_ID: not an app client id")
        if self.user_pool_jwks_url is not None and urlparse(self.user_pool_jwks_url).scheme not in ("http", "https"):
            raise ConfigError("CLASSTOP_USER_POOL_JWKS_URL: not an http(s) URL")
        if self.reveal_temporary_passwords and urlparse(self.aws_endpoint or "").hostname not in _LOOPBACK:
            raise ConfigError("CLASSTOP_REVEAL_TEMPORARY_PASSWORDS is for the local twin only (a loopback "
                              "CLASSTOP_AWS_ENDPOINT)")
        if not 1024 <= self.max_snapshot_bytes <= 380 * 1024:
            raise ConfigError("CLASSTOP_MAX_SNAPSHOT_BYTES must be between 1024 and 389120 (DynamoDB: 400 KB items)")
        for name in ("max_body_bytes", "command_retention_s", "command_delivery_window_s", "max_targets",
                     "result_data_limit", "site_touch_interval_s", "audit_retention_s", "enrolment_ttl_s",
                     "sync_writes_per_client", "sync_writes_per_source", "sync_window_s", "order_resend_s",
                     "site_stale_s", "alert_retention_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")

    @property
    def namespace(self) -> Namespace:
        """The tenant's stage: the prefix of every name and topic of its stack (``shared.names``)."""
        return Namespace(self.tenant, self.stage)

    def table_name(self, aggregate: str) -> str:
        """``classtop--{tenant}--{stage}--{aggregate}``, or ``{CLASSTOP_TABLE_PREFIX}-{aggregate}``."""
        if self.table_prefix:
            return f"{self.table_prefix}-{aggregate}"
        return resource_name(self.namespace, aggregate)

    @property
    def jwks_url(self) -> str | None:
        """Where the pool's signing keys are read (``None``: no pool)."""
        if self.user_pool_id is None:
            return None
        from chalicelib.services.pool_tokens import pool_issuer

        return self.user_pool_jwks_url or f"{pool_issuer(self.user_pool_id)}/.well-known/jwks.json"

    @property
    def iot_data_url(self) -> str | None:
        """Endpoint of the ``iot-data`` client: explicit, else the twin's, else boto3's default."""
        return self.iot_data_endpoint or self.aws_endpoint

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError:
                raise ConfigError(f"{name}: not an integer: {raw!r}") from None

        tenant = text("CLASSTOP_TENANT")
        if tenant is None:
            raise ConfigError("CLASSTOP_TENANT is not set")
        return cls(
            tenant=tenant,
            stage=text("CLASSTOP_STAGE") or "dev",
            region=text("AWS_DEFAULT_REGION") or text("AWS_REGION") or "",
            aws_endpoint=text("CLASSTOP_AWS_ENDPOINT"),
            iot_data_endpoint=text("CLASSTOP_IOT_DATA_ENDPOINT"),
            table_prefix=text("CLASSTOP_TABLE_PREFIX"),
            max_body_bytes=number("CLASSTOP_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            command_retention_s=number("CLASSTOP_COMMAND_RETENTION_S", 30 * 24 * 3600),
            command_delivery_window_s=number("CLASSTOP_COMMAND_DELIVERY_WINDOW_S", 24 * 3600),
            max_targets=number("CLASSTOP_MAX_TARGETS", 500),
            result_data_limit=number("CLASSTOP_RESULT_DATA_LIMIT", 16 * 1024),
            site_touch_interval_s=number("CLASSTOP_SITE_TOUCH_INTERVAL_S", 50),
            client_policy=text("CLASSTOP_CLIENT_POLICY") or "approval",
            lms_policy=text("CLASSTOP_LMS_POLICY") or "approval",
            iot_site_policy=text("CLASSTOP_IOT_SITE_POLICY") or "",
            iot_site_thing_type=text("CLASSTOP_IOT_SITE_THING_TYPE"),
            max_snapshot_bytes=number("CLASSTOP_MAX_SNAPSHOT_BYTES", 300 * 1024),
            audit_retention_s=number("CLASSTOP_AUDIT_RETENTION_S", 365 * 24 * 3600),
            enrolment_ttl_s=number("CLASSTOP_ENROLMENT_TTL_S", 7 * 24 * 3600),
            media_bucket=text("CLASSTOP_MEDIA_BUCKET"),
            sync_writes_per_client=number("CLASSTOP_SYNC_WRITES_PER_CLIENT", 20),
            sync_writes_per_source=number("CLASSTOP_SYNC_WRITES_PER_SOURCE", 1000),
            sync_window_s=number("CLASSTOP_SYNC_WINDOW_S", 3600),
            order_resend_s=number("CLASSTOP_ORDER_RESEND_S", 60),
            site_stale_s=number("CLASSTOP_SITE_STALE_S", 180),
            alert_retention_s=number("CLASSTOP_ALERT_RETENTION_S", 90 * 24 * 3600),
            alerts_topic_arn=text("CLASSTOP_ALERTS_TOPIC_ARN"),
            user_pool_id=text("CLASSTOP_USER_POOL_ID"),
            user_pool_client_id=text("CLASSTOP_USER_POOL_CLIENT_ID"),
            user_pool_jwks_url=text("CLASSTOP_USER_POOL_JWKS_URL"),
            reveal_temporary_passwords=text("CLASSTOP_REVEAL_TEMPORARY_PASSWORDS") in ("1", "true"),
            overview_bucket=text("CLASSTOP_OVERVIEW_BUCKET"),
        )
