"""The request bodies of the routes of ``chalicelib/api/agents.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.agent import LABEL_PATTERN, MAX_TAGS
from shared.topics import ID_PATTERN


class AgentTagsBody(RequestBody):
    """``PUT /api/agents/{id}/tags``: the agent's whole tag set."""

    tags: list[Annotated[str, Field(pattern=LABEL_PATTERN)]] = Field(
        max_length=MAX_TAGS, json_schema_extra={"uniqueItems": True}
    )

    @field_validator("tags")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("tags must not repeat")
        return v


class AgentGroupBody(RequestBody):
    """``PUT /api/agents/{id}/group``: the agent's group, or ``null`` for none."""

    group: str | None = Field(pattern=LABEL_PATTERN)


class AgentMoveBody(RequestBody):
    """``POST /api/agents/{id}/move``: the site the agent belongs to from now on."""

    site_id: str = Field(pattern=ID_PATTERN)


class RetireBody(RequestBody):
    """``POST /api/agents/{id}/retire``, ``POST /api/lms/{id}/retire`` (optional): why, for the audit log."""

    reason: str | None = Field(default=None, max_length=200)
