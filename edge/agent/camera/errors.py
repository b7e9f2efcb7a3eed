"""The camera part's one exception type: a message for the operator and the response error code."""

from __future__ import annotations

from shared.errors import ErrorCode


class CameraError(Exception):
    """A camera operation failed or was refused; ``code`` becomes the command response's ``error_code``."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_PARAMS) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
