"""Logs on request: an agent's or an LMS's log records of a range, gzipped into the media bucket (docs/logs.md).

``POST /api/agents/{agent_id}/logs`` · ``POST /api/sites/{site_id}/logs`` (the LMS's own) ·
``GET /api/logs/{request_id}`` (status, and a download link once uploaded). All three are audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok
from chalicelib.api.routes import Access, Call, Link, Router, Scope

if TYPE_CHECKING:
    from chalicelib.api.bodies.logs import LogsBody
    from shared.log_export import LogRange

api = Router(__name__, tag="logs")

_ACCEPTED = {"202": "asked; GET /api/logs/{request_id} says when the object is uploaded and gives its download link",
             "503": "no media bucket"}
_READ = Link("202", "GET", "/api/logs/{request_id}", {"request_id": "$response.body#/data/request_id"})


def _wanted(body: LogsBody) -> LogRange:
    """The body's range (``shared.log_export``: pydantic, loaded with the body, not with the import)."""
    from shared.log_export import LogRange

    return LogRange.model_validate(body.model_dump())


@api.route("POST", "/api/agents/{agent_id}/logs", Access.OPERATOR, Scope.SITE,
           "Have the agent upload its log records of a range (gzip) to the media bucket", body="LogsBody",
           body_optional=True, responses=_ACCEPTED, audit="logs.request", links=(_READ,))
def request_agent_logs(call: Call[LogsBody], agent_id: str) -> Response:
    return ok(container.get().log_requests.request_agent(agent_id, _wanted(call.body), call.principal), 202)


@api.route("POST", "/api/sites/{site_id}/logs", Access.OPERATOR, Scope.SITE,
           "Have the site's LMS upload its own log records of a range (gzip) to the media bucket", body="LogsBody",
           body_optional=True, responses=_ACCEPTED, audit="logs.request", links=(_READ,))
def request_site_logs(call: Call[LogsBody], site_id: str) -> Response:
    return ok(container.get().log_requests.request_site(site_id, _wanted(call.body), call.principal), 202)


@api.route("GET", "/api/logs/{request_id}", Access.OPERATOR, Scope.SITE,
           "A log request: its status and, once uploaded, a download link (presigned GET)", audit="logs.download")
def get_log_request(call: Call[None], request_id: str) -> Response:
    return ok(container.get().log_requests.get(request_id, call.principal))
