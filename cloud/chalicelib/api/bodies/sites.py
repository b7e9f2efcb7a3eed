"""The request bodies of the routes of ``chalicelib/api/sites.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.bodies.agents import RetireBody as RetireBody
from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.services.csr import MAX_CSR_CHARS
from shared.topics import ID_PATTERN

#: the seed LMS reports at most this many agents (its ``clients``) per heartbeat
MAX_HEARTBEAT_AGENTS = 5000


class LmsRegisterBody(RequestBody):
    lms_uuid: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    host: str = Field(max_length=255)
    port: int = Field(ge=1, le=65535)
    version: str = Field(min_length=1, max_length=64)
    #: with an enrolment token: the PEM CSR of the key pair the LMS made (the seed shape has no such field)
    csr: str | None = Field(default=None, min_length=1, max_length=MAX_CSR_CHARS)


class LmsAgentInfo(RequestBody):
    """One agent of a seed heartbeat (the wire calls them clients; ``uuid`` is the agent id)."""

    uuid: str = Field(pattern=ID_PATTERN)
    name: str = Field(default="", max_length=255)
    status: str = Field(max_length=32)


class LmsHeartbeatBody(RequestBody):
    lms_uuid: str = Field(pattern=ID_PATTERN)
    client_count: int = Field(ge=0, le=MAX_HEARTBEAT_AGENTS)
    clients: list[LmsAgentInfo] = Field(default_factory=list, max_length=MAX_HEARTBEAT_AGENTS)


class EnrolmentBody(RequestBody):
    """``POST /api/enrolments``: a one-time token for one LMS (optionally bound to a site id)."""

    name: str = Field(min_length=1, max_length=128)
    site_id: str | None = Field(default=None, pattern=ID_PATTERN)
    ttl_s: int | None = Field(default=None, gt=0, le=30 * 24 * 3600)
