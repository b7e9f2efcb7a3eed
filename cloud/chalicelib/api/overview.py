"""``GET /api/overview``: the dashboard's first page in one answer (``services/overview.py``), polled with
``If-None-Match``: unchanged, it costs one read of the change marks and answers 304.

``GET /api/overview/feed`` and ``GET /api/live/overview/{scope}/{expires}/{mac}``: the same overview through a
link shared by every caller of one scope, which CloudFront may cache (``services/overview_feed.py``). The first
route stays for scripts."""

from __future__ import annotations

from chalice.app import Response

from chalicelib import container
from chalicelib.api import etags
from chalicelib.api.http import ok, query_int, query_since
from chalicelib.api.params import Query
from chalicelib.api.routes import Access, Call, Router, Scope
from chalicelib.domain.feed_link import CACHE_CONTROL, LIVE_PREFIX
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
           "A link to the caller's overview shared by every caller of its scope (CloudFront caches it): "
           "url, expires_at, refresh_after",
           responses={"503": "the stage has no feed secret"})
def overview_feed(call: Call[None]) -> Response:
    return ok(container.get().overview_feed.link(call.principal).to_dict())


@api.route("GET", LIVE_PREFIX + "/{scope}/{expires}/{mac}", Access.PUBLIC, Scope.NONE,
           "The overview of a link from /api/overview/feed (no credentials; cacheable, If-None-Match)",
           check_ids=False,
           responses={"304": "not modified (If-None-Match names the current ETag)",
                      "403": "the link is expired or altered"})
def live_overview(call: Call[None], scope: str, expires: str, mac: str) -> Response:
    parts = container.get()
    principal = parts.overview_feed.verify(scope, expires, mac)  # before any read: a bad link costs nothing
    tag = etags.entity_tag(call.request, principal, OVERVIEW_AREAS, OVERVIEW_CLOCK_S, parts.clock)
    if etags.matches(call.request, tag):
        return etags.not_modified(tag, CACHE_CONTROL)
    return etags.tagged(ok(parts.overview.overview(principal)), tag, CACHE_CONTROL)
