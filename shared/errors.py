"""Error codes carried on the wire and the exception hierarchy of the ``shared`` package."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine-readable error codes used in responses (MQTT) and error bodies (HTTP)."""

    BAD_JSON = "bad_json"
    BAD_PAYLOAD = "bad_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_PARAMS = "invalid_params"
    UNKNOWN_AGENT = "unknown_agent"
    UNKNOWN_SITE = "unknown_site"
    AGENT_OFFLINE = "agent_offline"
    TIMEOUT = "timeout"
    REJECTED_BY_POLICY = "rejected_by_policy"
    EXEC_FAILED = "exec_failed"
    NOT_SUPPORTED = "not_supported"
    BUSY = "busy"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"


class SharedError(Exception):
    """Root of the ``shared`` package's exceptions. Carries an :class:`ErrorCode`."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


class TopicError(SharedError):
    """A topic could not be built (bad id) or parsed (not one of ours)."""

    code = ErrorCode.BAD_PAYLOAD


class InvalidName(TopicError):
    """A tenant, stage or resource name part that breaks the naming grammar (``shared.names``)."""


class MessageError(SharedError):
    """A payload is not valid JSON, too large, or does not match its schema."""

    code = ErrorCode.BAD_PAYLOAD


class CommandError(SharedError):
    """A command is unknown or its parameters are invalid."""

    code = ErrorCode.INVALID_PARAMS


class MqttError(SharedError):
    """The MQTT wrapper could not connect, was refused, or could not publish."""

    code = ErrorCode.INTERNAL


class SignatureError(SharedError):
    """A webhook delivery whose signature or timestamp does not check out (shared.webhook_signature)."""

    code = ErrorCode.UNAUTHORIZED
