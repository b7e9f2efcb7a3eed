"""``GET /api/overview``: the dashboard's first page in one answer (``services/overview.py``), polled with
``If-None-Match``: unchanged, it costs one read of the change marks and answers 304.

``GET /api/overview/feed``: a presigned URL of the same overview as an object in the tenant's overview bucket, for
the caller's own scope, which the dashboard polls instead (``services/overview_feed.py``). The first route stays
for scripts, and for a caller whose scope gets no object."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import container
from chalicelib.api.http import ok, query_int, query_since
from chalicelib.api.params import Query
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.report_limits import MAX_RECENT_EVENTS
from chalicelib.errors import BadRequest
from chalicelib.repositories.change_mark import Area

api = Router(__name__, tag="overview")

#: the overview ages without writes (a site whose heartbeats stop turns "down"): its ETag changes this often
OVERVIEW_CLOCK_S = 30
#: what the overview's ETag is made of
OVERVIEW_AREAS = (Area.AGENTS, Area.SITES, Area.COMMANDS, Area.EVENTS)


@api.route("GET", "/api/overview", Access.VIEWER, Scope.LIST,
           "Sites online/offline, sites down, command success rate, sync freshness, recent events (?since=)",
           query=(Query("since", "only events newer than this (epoch seconds)", kind="number", minimum=0,
                        maximum=1e11),
                  Query("events", "how many recent events", kind="integer", minimum=1, maximum=MAX_RECENT_EVENTS)),
           etag=OVERVIEW_AREAS,
           etag_clock_s=OVERVIEW_CLOCK_S)
def overview(call: Call[None]) -> Response:
    events = query_int(call.request, "events", 20)
    if not 1 <= events <= MAX_RECENT_EVENTS:
        raise BadRequest(f"events: between 1 and {MAX_RECENT_EVENTS}")
    return ok(container.get().overview.overview(call.principal, since=query_since(call.request), events=events))


@api.route("GET", "/api/overview/feed", Access.VIEWER, Scope.LIST,
           "A presigned URL of the caller's overview as an S3 object, written by the minute's pass when it changes "
           "(poll it with If-None-Match): url, scope, expires_at, refresh_after, poll_s, refresh_s",
           responses={"503": "the stage has no overview bucket"})
def overview_feed(call: Call[None]) -> Response:
    return ok(container.get().overview_feed.link(call.principal).to_dict())
