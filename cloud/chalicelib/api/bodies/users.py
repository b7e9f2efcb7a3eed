"""The request bodies of the routes of ``chalicelib/api/users.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.api.bodies.request_body import RequestBody
from chalicelib.domain.user import EMAIL_PATTERN, MAX_USER_SITES
from shared.topics import ID_PATTERN

SiteList = list[Annotated[str, Field(pattern=ID_PATTERN)]] | None


class InviteBody(RequestBody):
    """``POST /api/users``: ``sites`` absent or ``null`` for every site."""

    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: Literal["viewer", "operator", "admin"]
    sites: SiteList = Field(default=None, min_length=1, max_length=MAX_USER_SITES)


class UserPatchBody(RequestBody):
    """``PATCH /api/users/{email}``: only the fields given change (``sites: null`` means every site)."""

    role: Literal["viewer", "operator", "admin"] | None = None
    sites: SiteList = Field(default=None, min_length=1, max_length=MAX_USER_SITES)
    enabled: bool | None = None
