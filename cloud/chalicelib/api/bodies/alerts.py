"""The request bodies of the routes of ``chalicelib/api/alerts.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.alert import MAX_SILENCE_S
from shared.topics import ID_PATTERN


class AckBody(RequestBody):
    """``POST /api/alerts/{id}/acknowledge`` and ``…/resolve`` (optional, empty)."""


class SilenceAlertBody(RequestBody):
    """``POST /api/alerts/{id}/silence``: how long its rule on its target stays silent."""

    duration_s: float = Field(gt=0, le=MAX_SILENCE_S, description="seconds (at most 30 days)")
    comment: str = Field(default="", max_length=500)


class SilenceBody(RequestBody):
    """``POST /api/alert-silences``: notifications of the alerts matching every field given are not sent."""

    site_id: str | None = Field(default=None, pattern=ID_PATTERN, description="a site (none: every site; admin)")
    rule_id: str | None = Field(default=None, pattern=ID_PATTERN)
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    duration_s: float = Field(gt=0, le=MAX_SILENCE_S, description="seconds (at most 30 days)")
    comment: str = Field(default="", max_length=500)
