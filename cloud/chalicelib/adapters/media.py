"""The tenant's media bucket (S3): presigned URLs for objects that agents upload and operators download.

Presigning is local signing (no request to S3), so it fails only on a broken client or configuration (no
credentials, a bad signature version); those failures are :class:`UpstreamError`. The bucket's existence is the
template's business: a URL for a missing bucket fails when it is used, with S3's own error.
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import AwsAdapter, describe
from chalicelib.errors import BadRequest, CloudError, UpstreamError
from shared.errors import ErrorCode

#: boto3's ``s3`` client (the dev dependencies carry no s3 stubs)
S3Client = Any

#: S3 accepts presigned URLs valid for at most 7 days
MAX_EXPIRES_S = 7 * 24 * 3600
MAX_KEY_BYTES = 1024


class MediaNotConfigured(CloudError, status=503, code=ErrorCode.NOT_SUPPORTED):
    """The deployment has no media bucket (``CLASSTOP_MEDIA_BUCKET`` unset)."""


class MediaStore(Protocol):
    """Presigned access to one bucket. Raises a :class:`CloudError` when it cannot sign."""

    @property
    def bucket(self) -> str: ...

    def presign_put(self, key: str, content_type: str = "image/jpeg", expires_s: int = 300) -> str: ...

    def presign_get(self, key: str, expires_s: int = 3600) -> str: ...

    def presign_post(self, key: str, content_type: str, max_bytes: int, expires_s: int = 300) -> dict[str, Any]: ...

    def size(self, key: str) -> int | None: ...


class S3Media(AwsAdapter[S3Client]):
    """The production :class:`MediaStore`. ``client`` is injected, or created on first use (once); with an
    ``endpoint_url`` (moto) it uses path-style addressing, so URLs point at that host."""

    SERVICE = "s3"

    def __init__(self, bucket: str, client: S3Client | None = None, *, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        if not bucket:
            raise MediaNotConfigured("no media bucket is configured (CLASSTOP_MEDIA_BUCKET)")
        super().__init__(client, endpoint_url=endpoint_url, region=region)
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def _config(self) -> Config:
        return Config(signature_version="s3v4", connect_timeout=5, read_timeout=10,
                      retries={"max_attempts": 3, "mode": "standard"},
                      s3={"addressing_style": "path" if self._endpoint_url else "auto"})

    def presign_put(self, key: str, content_type: str = "image/jpeg", expires_s: int = 300) -> str:
        """A URL that accepts one ``PUT`` of ``key`` (with header ``Content-Type: content_type``)."""
        params = {"Bucket": self._bucket, "Key": _check(key, expires_s)}
        if content_type:
            params["ContentType"] = content_type
        return self._presign("put_object", params, expires_s)

    def presign_get(self, key: str, expires_s: int = 3600) -> str:
        return self._presign("get_object", {"Bucket": self._bucket, "Key": _check(key, expires_s)}, expires_s)

    def presign_post(self, key: str, content_type: str, max_bytes: int, expires_s: int = 300) -> dict[str, Any]:
        """A form (``{"url", "fields"}``) that accepts one POST of ``key``: S3 checks the policy it carries — that
        key exactly, that ``Content-Type``, 1..``max_bytes`` bytes, before the expiry — so its holder can write that
        object and no other, nor a bigger one."""
        key = _check(key, expires_s)
        conditions: list[Any] = [{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]]
        try:
            form: dict[str, Any] = self.client.generate_presigned_post(
                self._bucket, key, Fields={"Content-Type": content_type}, Conditions=conditions, ExpiresIn=expires_s)
        except ClientError as exc:
            raise UpstreamError(f"S3: could not presign a POST of {key}: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"S3: could not presign a POST of {key}: {exc}") from exc
        return {"url": form["url"], "fields": dict(form["fields"])}

    def size(self, key: str) -> int | None:
        """The object's size, or ``None`` when there is none."""
        try:
            head = self.client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise UpstreamError(f"S3: could not look up {key}: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"S3: could not look up {key}: {exc}") from exc
        return int(head["ContentLength"])

    def _presign(self, operation: str, params: dict[str, str], expires_s: int) -> str:
        try:
            url: str = self.client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_s)
        except ClientError as exc:
            raise UpstreamError(f"S3: could not presign {operation} of {params['Key']}: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise UpstreamError(f"S3: could not presign {operation} of {params['Key']}: {exc}") from exc
        return url


def _check(key: str, expires_s: int) -> str:
    if not key or len(key.encode()) > MAX_KEY_BYTES or key.startswith("/"):
        raise BadRequest(f"media key: invalid {key[:80]!r}")
    if not 1 <= expires_s <= MAX_EXPIRES_S:
        raise BadRequest(f"media URL expiry: 1..{MAX_EXPIRES_S} s, not {expires_s}")
    return key
