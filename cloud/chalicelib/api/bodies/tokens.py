"""The request bodies of the routes of ``chalicelib/api/tokens.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.token import MAX_TOKEN_TTL_S, MIN_TOKEN_TTL_S
from shared.topics import ID_PATTERN

#: most sites one API token may be scoped to
MAX_TOKEN_SITES = 100


class CreateTokenBody(RequestBody):
    """``POST /api/tokens``: a token for a person or a script. ``site_ids`` limits it to those sites (absent or
    ``null``: every site); ``ttl_s`` is its lifetime (default 90 days, at most 365)."""

    #: not blank (the service strips it): a character that is not whitespace in Python's sense nor JSON Schema's
    name: str = Field(min_length=1, max_length=128, pattern=r"[^\s\x1c-\x1f\x85\ufeff]")
    role: Literal["viewer", "operator", "admin"]
    site_ids: list[Annotated[str, Field(pattern=ID_PATTERN)]] | None = Field(
        default=None, min_length=1, max_length=MAX_TOKEN_SITES
    )
    ttl_s: int | None = Field(default=None, ge=MIN_TOKEN_TTL_S, le=MAX_TOKEN_TTL_S)
