"""The tenant's signing key of the overview's shared links (``services/overview_feed.py``): a Secrets Manager
secret the stack generates (``infra/aws/feed_secret.py``; the local twin makes one in moto). Read on first use and
kept in memory for :data:`KEY_CACHE_S`, so a warm Lambda asks Secrets Manager at most once per few minutes; a
rotated secret is picked up within that time (links signed with the old one answer 403 and the dashboard asks for
a new one). The key never leaves this adapter: no answer, log line or error carries it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws import AwsAdapter, error_code
from chalicelib.errors import CloudError, UpstreamError
from shared.errors import ErrorCode

#: boto3's ``secretsmanager`` client (the dev dependencies carry no stubs for it)
SecretsClient = Any
#: how long a read key is used before it is read again (seconds)
KEY_CACHE_S = 300.0
#: the shortest key accepted: HMAC-SHA256 wants at least 32 bytes of secret
MIN_KEY_BYTES = 32


class SigningKeyNotConfigured(CloudError, status=503, code=ErrorCode.NOT_SUPPORTED):
    """The deployment has no feed secret (``CLASSTOP_FEED_SECRET_ARN`` unset, or the secret is unusable)."""


class SigningKey(Protocol):
    def key(self) -> bytes: ...


class SecretsManagerKey(AwsAdapter[SecretsClient]):
    """The production :class:`SigningKey`: the secret's ``SecretString`` as UTF-8 bytes."""

    SERVICE = "secretsmanager"

    def __init__(
        self,
        secret_id: str,
        client: SecretsClient | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not secret_id:
            raise SigningKeyNotConfigured("no feed secret is configured (CLASSTOP_FEED_SECRET_ARN)")
        super().__init__(client, endpoint_url=endpoint_url, region=region)
        self._secret_id = secret_id
        self._monotonic = monotonic
        self._cached: tuple[bytes, float] | None = None
        self._key_lock = threading.Lock()

    def key(self) -> bytes:
        with self._key_lock:
            now = self._monotonic()
            if self._cached is None or now - self._cached[1] >= KEY_CACHE_S:
                self._cached = (self._read(), now)
            return self._cached[0]

    def _read(self) -> bytes:
        try:
            answer = self.client.get_secret_value(SecretId=self._secret_id)
        except (ClientError, BotoCoreError) as exc:  # the message names the secret, never its value
            if error_code(exc) == "ResourceNotFoundException":
                raise SigningKeyNotConfigured("the feed secret does not exist") from None
            raise UpstreamError(
                f"secrets manager: cannot read the feed secret ({error_code(exc) or 'no answer'})"
            ) from None
        value = answer.get("SecretString")
        if not isinstance(value, str) or len(value.encode()) < MIN_KEY_BYTES:
            raise SigningKeyNotConfigured(f"the feed secret is not a string of at least {MIN_KEY_BYTES} bytes")
        return value.encode()
