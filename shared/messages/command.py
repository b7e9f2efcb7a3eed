"""Command and response, the seed's shapes, used LMS <-> agent and (with targets) cloud -> LMS."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from shared.errors import ErrorCode
from shared.messages.base import JsonData, JsonObject, Message
from shared.messages.checks import COMMAND_NAME_PATTERN as COMMAND_NAME_PATTERN
from shared.messages.checks import DEFAULT_TIMEOUT_S as DEFAULT_TIMEOUT_S
from shared.messages.checks import MAX_TIMEOUT_S as MAX_TIMEOUT_S
from shared.messages.checks import REQUEST_ID_PATTERN as REQUEST_ID_PATTERN
from shared.messages.checks import response_problem

# the vocabulary lives in shared.messages.enums (no pydantic: the agent's mirrors and the cloud's domain use it);
# named here as before
from shared.messages.enums import SITE_HOPS as SITE_HOPS
from shared.messages.enums import TERMINAL_STATUSES as TERMINAL_STATUSES
from shared.messages.enums import CommandHop as CommandHop
from shared.messages.enums import CommandStatus as CommandStatus
from shared.messages.enums import status_rank as status_rank


class Command(Message):
    """Seed shape ``{"type":"command","request_id","command","params"}``, plus a timeout."""

    type: Literal["command"] = "command"
    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    command: str = Field(pattern=COMMAND_NAME_PATTERN)
    params: JsonObject = Field(default_factory=dict)
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    #: the cloud's id of the command this request is part of (absent for commands made on the site); the agent
    #: logs it at every hop and echoes it in its ``command.state`` events. ``request_id`` stays the per-agent key.
    command_id: str | None = Field(default=None, pattern=REQUEST_ID_PATTERN)


class Response(Message):
    """Seed shape ``{"type":"response","request_id","success","data"}``; on failure ``error`` + ``error_code``."""

    type: Literal["response"] = "response"
    request_id: str = Field(pattern=REQUEST_ID_PATTERN)
    success: bool
    data: JsonData = None
    error: str | None = Field(default=None, max_length=4096)
    error_code: ErrorCode | None = None

    @model_validator(mode="after")
    def _error_iff_failed(self) -> Self:
        problem = response_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @classmethod
    def ok(cls, request_id: str, data: Any = None) -> Response:
        return cls(request_id=request_id, success=True, data=data)

    @classmethod
    def fail(cls, request_id: str, code: ErrorCode, error: str, data: Any = None) -> Response:
        return cls(request_id=request_id, success=False, error=error[:4096], error_code=code, data=data)

    @property
    def status(self) -> CommandStatus:
        """The terminal status this response stands for."""
        if self.success:
            return CommandStatus.SUCCEEDED
        if self.error_code is ErrorCode.TIMEOUT:
            return CommandStatus.TIMED_OUT
        if self.error_code in (
            ErrorCode.REJECTED_BY_POLICY,
            ErrorCode.UNKNOWN_COMMAND,
            ErrorCode.INVALID_PARAMS,
            ErrorCode.NOT_SUPPORTED,
            ErrorCode.BAD_PAYLOAD,
            ErrorCode.BAD_JSON,
            ErrorCode.PAYLOAD_TOO_LARGE,
        ):
            return CommandStatus.REJECTED
        return CommandStatus.FAILED
