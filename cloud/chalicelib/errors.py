"""The cloud plane's exceptions. Each carries an HTTP status and a wire :class:`ErrorCode`.

Services raise these; the API maps them to ``{"error": {"code", "message"}}`` with :attr:`CloudError.status`;
the IoT-rule handlers log them and drop the event.
"""

from __future__ import annotations

from typing import Any, ClassVar

from shared.errors import ErrorCode, SharedError


class CloudError(Exception):
    status: ClassVar[int] = 500
    code: ErrorCode = ErrorCode.INTERNAL

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


class BadRequest(CloudError):
    status = 400
    code = ErrorCode.BAD_PAYLOAD


class Unauthorized(CloudError):
    status = 401
    code = ErrorCode.UNAUTHORIZED


class Forbidden(CloudError):
    status = 403
    code = ErrorCode.FORBIDDEN


class NotFound(CloudError):
    status = 404
    code = ErrorCode.NOT_FOUND


class Conflict(CloudError):
    status = 409
    code = ErrorCode.CONFLICT


class PayloadTooLarge(CloudError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class TooManyRequests(CloudError):
    """A caller went over a rate limit; nothing was done. ``details`` carries ``retry_after_s``."""

    status = 429
    code = ErrorCode.RATE_LIMITED


class UpstreamError(CloudError):
    """An AWS service we depend on (IoT Core, DynamoDB) failed or refused."""

    status = 502
    code = ErrorCode.INTERNAL


class StaleWrite(Conflict):
    """An optimistic-locking write lost a race (the stored revision moved on): re-read and retry."""


class ConfigError(CloudError):
    """The environment is missing or has an invalid setting."""

    status = 500
    code = ErrorCode.INTERNAL
