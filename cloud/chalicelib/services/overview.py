"""The dashboard's overview: one answer for its first page, polled every few seconds (``GET /api/overview``).

Per visible site: agents online/offline, LMS version, last heartbeat and whether it is *reporting* (presence per
hop, ``services/site_presence.py``: a link IoT Core says went down shows at once, and so does which hop is down —
``link_up``, ``lms_up``, None while unknown —; a site silent for its ``stale_after_s`` is ``down``: ``STALE_AFTER_S``
(150 s) for an LMS that states no full heartbeat period, else 2.5 of the period it states, ``Site.stale_after``);
totals; the sites that are down; the command success rate over the last day and week (from each scope's ring of its
last 8 days' counters, ``repositories/rollup.py``: one item per scope, whatever the history); sync freshness (site
heartbeats and, for a tenant-wide caller, ClassTop clients); the day's newest events (``since``: only those after a
poll's cursor, the newest ``at`` it has seen).

Sites and clients come from the overview summary (``services/site_summaries.py``: a few items, whatever the number
of sites), never from the site or client items: a site's ``last_heartbeat`` is the newest the summary holds (for a
reporting site up to ``BEATS_REFRESH_S`` and a minute old, for a quiet one its last), and the clock decides a
silence where the minute's pass gave the entry its exact heartbeat (``watch_after`` after it; if that pass stopped,
a stored heartbeat older than ``trusted_for`` the site is a silence). The answer's ``stale_after_s`` is the figure for
an LMS that states no period; each row carries its own. A scoped caller's
answer holds its own sites only: the other entries are read, never shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.report_limits import MAX_RECENT_EVENTS
from chalicelib.domain.site import STALE_AFTER_S
from chalicelib.domain.site_summary import Entry, entry_site, freshness, trusted_for
from chalicelib.domain.token import Principal
from chalicelib.repositories.event import EventRepository
from chalicelib.services.site_presence import HopState, site_reach
from chalicelib.services.site_summaries import SiteSummaries
from chalicelib.services.stats import StatsService


class OverviewService:
    def __init__(self, stats: StatsService, summaries: SiteSummaries, events: EventRepository,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._stats = stats
        self._summaries = summaries
        self._events = events
        self._clock = clock

    def overview(self, principal: Principal, *, since: float | None = None, events: int = 20) -> dict[str, Any]:
        now = self._clock()
        summary = self._summaries.read()
        rows = [_row(site_id, summary.sites[site_id], summary.beats.get(site_id), now)
                for site_id in sorted(summary.sites) if principal.can_see_site(site_id)]  # fmt: skip
        commands = self._stats.commands_over(principal, [r["site_id"] for r in rows], (1, 7))
        agents = sum(r["agents"]["total"] for r in rows)
        online = sum(r["agents"]["online"] for r in rows)
        out: dict[str, Any] = {
            "generated_at": now,
            "stale_after_s": STALE_AFTER_S,
            "totals": {"sites": len(rows), "sites_down": sum(1 for r in rows if not r["reporting"]),
                       "agents": agents, "online": online, "offline": agents - online},
            "sites": rows,
            "down": [r["site_id"] for r in rows if not r["reporting"]],
            "commands": {"day": commands[1], "week": commands[7]},
            "sync": {"sites_reporting": sum(1 for r in rows if r["reporting"]),
                     "oldest_heartbeat_age_s": max((r["heartbeat_age_s"] for r in rows
                                                    if r["heartbeat_age_s"] is not None), default=None)},
            "events": self._recent(principal, now, since, max(1, min(events, MAX_RECENT_EVENTS))),
        }  # fmt: skip
        if principal.site_ids is None:
            clients = ((bool(c.get("p")), c.get("s")) for c in summary.clients.values())
            out["sync"]["clients"] = freshness(clients, now)
        return out

    def _recent(self, principal: Principal, now: float, since: float | None, limit: int) -> list[dict[str, Any]]:
        day = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")
        page = self._events.of_day(day, limit=limit, cursor=None, since=since)
        return [e.to_dict() for e in page.items if principal.can_see_site(e.site_id)]


def _row(site_id: str, entry: Entry, beat: float | None, now: float) -> dict[str, Any]:
    """A site's row: presence per hop from what the summary holds. Where the pass let the clock decide (``d``: the
    site's last heartbeat is then exact) the clock does; otherwise the site counts as heard from at its newest known
    heartbeat, unless that is older than :func:`trusted_for` it (the pass stopped)."""
    site = entry_site(site_id, entry, beat)
    silence_shows = not site.last_heartbeat or entry.get("d") or now - site.last_heartbeat > trusted_for(site)
    reach = site_reach(site, now if silence_shows else site.last_heartbeat, STALE_AFTER_S)
    age = now - site.last_heartbeat if site.last_heartbeat else None
    return {
        "site_id": site_id, "name": site.name, "approval": site.approval.value,
        "lms_version": site.lms_version or None,
        "agents": {"total": site.agent_count, "online": site.online_count,
                   "offline": site.agent_count - site.online_count},
        "last_heartbeat": site.last_heartbeat or None, "heartbeat_age_s": age, "stale_after_s": site.stale_after(),
        "reporting": age is not None and reach.reachable,
        "link_up": reach.link.state == HopState.UP,
        "lms_up": None if reach.lms.state == HopState.UNKNOWN else reach.lms.state == HopState.UP,
        "certificates_expiring": site.certificates_expiring or [],
    }  # fmt: skip
