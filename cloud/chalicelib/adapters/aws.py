"""What every boto3 adapter shares: a client that is injected or created on first use (once, thread-safe), and
AWS's error code and message for the translation into cloud errors. boto3 itself is imported by the first client
made (a function whose path reaches no adapter never loads it: ``docs/deploy.md#cold-starts``)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Generic, TypeVar, cast

from botocore.config import Config
from botocore.exceptions import ClientError

C = TypeVar("C")


class AwsAdapter(Generic[C]):
    """Holds one boto3 client of :attr:`SERVICE`: ``client`` is injected, or created on first use (once)."""

    SERVICE: ClassVar[str]

    def __init__(self, client: C | None = None, *, endpoint_url: str | None = None,
                 region: str | None = None) -> None:
        self._client = client
        self._endpoint_url = endpoint_url
        self._region = region
        self._lock = threading.Lock()

    def _config(self) -> Config:
        """The client's configuration: few retries and short timeouts (a Lambda has seconds, not minutes)."""
        return Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=10)

    @property
    def client(self) -> C:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    made = boto3.client(self.SERVICE, endpoint_url=self._endpoint_url,  # type: ignore[call-overload]
                                        region_name=self._region, config=self._config())
                    self._client = cast(C, made)
        return self._client


def error_code(exc: Exception) -> str | None:
    """AWS's error code of a ``ClientError`` (``None`` for anything else)."""
    if not isinstance(exc, ClientError):
        return None
    code: Any = exc.response.get("Error", {}).get("Code")
    return None if code is None else str(code)


def describe(exc: Exception) -> str:
    """``<Code>: <Message>`` of a ``ClientError``, else the exception's text."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"
    return str(exc)
