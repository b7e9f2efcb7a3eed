"""Conditional GETs for the dashboard's polls: ``ETag`` and ``If-None-Match`` -> ``304 Not Modified``.

A route declared with ``etag=(Area.AGENTS, ...)`` answers an ``ETag`` made from the change marks of those areas
(``chalicelib.repositories.change_mark``: every write to an area bumps its mark), the request's path and query,
the caller (two callers with other roles or sites see other answers) and the app's version; with ``clock_s``, also
the current ``clock_s``-second window, for answers that age without any write (a site whose heartbeats stopped
turns stale). When the request's ``If-None-Match`` names that tag the answer is a ``304`` with no body, after one
``BatchGetItem`` of the marks and nothing else. The marks are read before the view reads the area, so a write in
between makes the next poll fetch again rather than miss it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence

from chalice.app import Request, Response

from chalicelib import __version__
from chalicelib.domain.token import Principal
from chalicelib.repositories.change_mark import Area, revisions

#: what a poll of a conditional route may cache: only the caller's browser, and only after asking again
CACHE_CONTROL = "private, no-cache"


def entity_tag(request: Request, principal: Principal | None, areas: Sequence[Area], clock_s: int | None,
               clock: Callable[[], float] = time.time) -> str:
    marks = revisions(areas)
    params = sorted((request.query_params or {}).items())
    who = ("-", "-", "-") if principal is None else (principal.name, principal.role.value,
                                                     ",".join(sorted(principal.site_ids or ["*"])))
    window = "" if clock_s is None else str(int(clock() // clock_s))
    text = "\n".join([__version__, request.method, str(request.context.get("resourcePath", "")),
                      str(request.uri_params or {}), repr(params), *who, window,
                      *(f"{a.value}={marks[a]}" for a in areas)])
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def matches(request: Request, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (or ``*``); weak tags compare equal to strong ones for GET."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    candidates = {part.strip().removeprefix("W/") for part in header.split(",")}
    return tag in candidates or "*" in candidates


def not_modified(tag: str, cache_control: str = CACHE_CONTROL) -> Response:
    return Response(body="", status_code=304, headers={"ETag": tag, "Cache-Control": cache_control})


def tagged(response: Response, tag: str, cache_control: str = CACHE_CONTROL) -> Response:
    if response.status_code == 200:
        response.headers["ETag"] = tag
        response.headers["Cache-Control"] = cache_control
    return response
