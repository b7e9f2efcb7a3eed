"""The cloud plane's exceptions. Each carries an HTTP status and a wire :class:`ErrorCode`.

Services raise these; the API maps them to ``{"error": {"code", "message"}}`` with :attr:`CloudError.status`;
the IoT-rule handlers log them and drop the event.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shared.errors import ErrorCode, SharedError


class CloudError(Exception):
    """Root of the cloud's exceptions; a subclass names its status and code in its class line:
    ``class NotFound(CloudError, status=404, code=ErrorCode.NOT_FOUND)``."""

    status: ClassVar[int] = 500
    code: ErrorCode = ErrorCode.INTERNAL

    def __init_subclass__(cls, *, status: int | None = None, code: ErrorCode | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, *, code: ErrorCode | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code.value, "message": self.message}
        error.update(self.details)
        return {"error": error}

    @classmethod
    def from_shared(cls, exc: SharedError) -> CloudError:
        """A contract error (bad command, bad params, bad message) as a 400."""
        if exc.code is ErrorCode.PAYLOAD_TOO_LARGE:
            return PayloadTooLarge(exc.message)
        return BadRequest(exc.message, code=exc.code)


class BadRequest(CloudError, status=400, code=ErrorCode.BAD_PAYLOAD):
    """The request is malformed or invalid; the message names the field."""


class Unauthorized(CloudError, status=401, code=ErrorCode.UNAUTHORIZED):
    """Missing, unknown, expired or revoked credentials."""


class Forbidden(CloudError, status=403, code=ErrorCode.FORBIDDEN):
    """The caller is known but may not do this (role, site scope, admission policy)."""


class NotFound(CloudError, status=404, code=ErrorCode.NOT_FOUND):
    """Unknown, or not visible to the caller (another site's, for a token scoped to sites)."""


class Conflict(CloudError, status=409, code=ErrorCode.CONFLICT):
    """The request contradicts what is stored (an id taken, an agent not approved...)."""


class Unprocessable(CloudError, status=422, code=ErrorCode.BAD_PAYLOAD):
    """A well-formed request whose value a service refuses for a reason the API cannot check beforehand: a code
    that is wrong or expired, a password the user pool's policy refuses."""


class PayloadTooLarge(CloudError, status=413, code=ErrorCode.PAYLOAD_TOO_LARGE):
    """A body or a message over its limit."""


class TooManyRequests(CloudError, status=429, code=ErrorCode.RATE_LIMITED):
    """A caller went over a rate limit; nothing was done. ``details`` carries ``retry_after_s``."""


class UpstreamError(CloudError, status=502):
    """An AWS service we depend on (IoT Core, DynamoDB) failed or refused."""


class StaleWrite(Conflict):
    """An optimistic-locking write lost a race (the stored revision moved on): re-read and retry."""


class CorruptStoredData(CloudError):
    """An item's stored value that its reader cannot decode (truncated, an unknown format): a bug or damage, never
    the caller's fault (500); a reader that can go on without the item skips it and logs this."""


class ConfigError(CloudError):
    """The environment is missing or has an invalid setting (500)."""


class NoUserPool(CloudError, status=503, code=ErrorCode.NOT_SUPPORTED):
    """The stage has no user pool (``CLASSTOP_USER_POOL_ID``): accounts and sign-in are unavailable."""
