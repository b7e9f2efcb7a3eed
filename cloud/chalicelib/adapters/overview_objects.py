"""The tenant's private bucket of the overview's objects (``services/overview_feed.py``): one gzip-encoded JSON
object per active scope, written by the cloud and read by the dashboard through presigned GET URLs.

The bucket is the template's (``infra/aws/overview_bucket.py``: Block Public Access, TLS only, SSE-S3, CORS for the
dashboard's origin and GET only); presigning is local signing, like :class:`~chalicelib.adapters.media.S3Media`'s.
"""

from __future__ import annotations

from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import describe
from chalicelib.adapters.media import S3Media
from chalicelib.errors import CloudError, UpstreamError
from shared.errors import ErrorCode


class OverviewBucketNotConfigured(CloudError, status=503, code=ErrorCode.NOT_SUPPORTED):
    """The deployment has no overview bucket (``CLASSTOP_OVERVIEW_BUCKET`` unset)."""


class OverviewObjects(Protocol):
    def put(self, key: str, body: bytes, *, cache_control: str) -> None:
        """Store ``body`` (gzip-encoded JSON) at ``key``. Raises :class:`UpstreamError`."""

    def presign_get(self, key: str, expires_s: int = 3600) -> str: ...


class S3OverviewObjects(S3Media):
    """The production :class:`OverviewObjects`."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        if not bucket:
            raise OverviewBucketNotConfigured("no overview bucket is configured (CLASSTOP_OVERVIEW_BUCKET)")
        super().__init__(bucket, endpoint_url=endpoint_url, region=region)

    def put(self, key: str, body: bytes, *, cache_control: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ContentEncoding="gzip",
                CacheControl=cache_control,
            )
        except ClientError as exc:
            raise UpstreamError(f"S3: could not write {key}: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"S3: could not write {key}: {exc}") from exc
