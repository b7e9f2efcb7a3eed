"""How a command outcome becomes an HTTP reply (shared by the clients and settings routers).

The body is always ``{success, request_id, status, data, error, error_code}``. The HTTP status is 200 when
the agent answered (whatever it answered: ``success`` says how it went). When the LMS itself ended the
command the status says why: 404 unknown agent, 409 agent offline, 422 unknown command or invalid params,
413 too large, 504 no answer in time, 503 busy or shutting down.
"""

from __future__ import annotations

from collections.abc import Awaitable

from fastapi.responses import JSONResponse

from edge.lms.api.errors import error_response
from edge.lms.commands import AccessError, Outcome, Ticket, result_dict
from shared.errors import ErrorCode
from shared.messages import Response

_STATUS = {
    ErrorCode.UNKNOWN_AGENT: 404,
    ErrorCode.AGENT_OFFLINE: 409,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNKNOWN_COMMAND: 422,
    ErrorCode.INVALID_PARAMS: 422,
    ErrorCode.BAD_PAYLOAD: 422,
    ErrorCode.BAD_JSON: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.BUSY: 503,
    ErrorCode.INTERNAL: 503,
    ErrorCode.REJECTED_BY_POLICY: 403,  # the site's exec_policy (the agent's own refusals are answers: 200)
}


def http_status(ticket: Ticket, response: Response) -> int:
    if ticket.answered or response.success:
        return 200
    return _STATUS.get(response.error_code or ErrorCode.INTERNAL, 500)


def command_reply(ticket: Ticket, response: Response) -> JSONResponse:
    body = result_dict(ticket.request_id, response)
    if not response.success:
        body["detail"] = response.error
    return JSONResponse(body, status_code=http_status(ticket, response))


def outcome_reply(outcome: Outcome) -> JSONResponse:
    """A command outcome: the command reply, or 202 ``queued`` with the queue row (agent offline)."""
    if outcome.queued is not None:
        row = outcome.queued
        body = {
            "success": True,
            "request_id": None,
            "status": "queued",
            "data": {"queue_id": row["id"], "agent": row["agent_id"], "expires_at": row["expires_at"]},
            "error": None,
            "error_code": None,
        }
        return JSONResponse(body, status_code=202)
    assert outcome.ticket is not None and outcome.response is not None
    return command_reply(outcome.ticket, outcome.response)


async def reply_to(run: Awaitable[Outcome]) -> JSONResponse:
    """The reply to one command run by the command service (``services.commands.run(...)``, which authorises and
    audits it): the command reply, 202 ``queued``, or 403 when the caller's role does not allow the command."""
    try:
        outcome = await run
    except AccessError as exc:
        return error_response(403, str(exc), ErrorCode.FORBIDDEN)
    return outcome_reply(outcome)
