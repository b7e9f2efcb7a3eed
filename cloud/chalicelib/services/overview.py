"""The dashboard's overview: one answer for its first page, polled every few seconds (``GET /api/overview``).

Per visible site: agents online/offline, LMS version, last heartbeat and whether it is *reporting* (presence per
hop, ``services/site_presence.py``, with ``STALE_AFTER_S``: a link IoT Core says went down shows at once, and so does
which hop is down — ``link_up``, ``lms_up``, None while unknown —; a site silent for ``STALE_AFTER_S`` is ``down``);
totals; the sites that are down; the command success rate over the last day and week (from the daily rollups);
sync freshness (site heartbeats and, for a tenant-wide caller, ClassTop clients); the day's newest events (``since``:
only those after a poll's cursor, the newest ``at`` it has seen).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.report_limits import MAX_RECENT_EVENTS
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal
from chalicelib.repositories.event import EventRepository
from chalicelib.services.site_presence import HopState, site_reach
from chalicelib.services.stats import STALE_AFTER_S, StatsService


class OverviewService:
    def __init__(self, stats: StatsService, events: EventRepository, clock: Callable[[], float] = time.time) -> None:
        self._stats = stats
        self._events = events
        self._clock = clock

    def overview(self, principal: Principal, *, since: float | None = None, events: int = 20) -> dict[str, Any]:
        now = self._clock()
        sites = [s for s in self._stats.visible_sites(principal) if s.retired_at is None]
        rows = [self._row(site, now) for site in sorted(sites, key=lambda s: s.site_id)]
        agents = sum(r["agents"]["total"] for r in rows)
        online = sum(r["agents"]["online"] for r in rows)
        out: dict[str, Any] = {
            "generated_at": now,
            "stale_after_s": STALE_AFTER_S,
            "totals": {"sites": len(rows), "sites_down": sum(1 for r in rows if not r["reporting"]),
                       "agents": agents, "online": online, "offline": agents - online},
            "sites": rows,
            "down": [r["site_id"] for r in rows if not r["reporting"]],
            "commands": {"day": self._stats.commands_summary(principal, sites, 1),
                         "week": self._stats.commands_summary(principal, sites, 7)},
            "sync": {"sites_reporting": sum(1 for r in rows if r["reporting"]),
                     "oldest_heartbeat_age_s": max((r["heartbeat_age_s"] for r in rows
                                                    if r["heartbeat_age_s"] is not None), default=None)},
            "events": self._recent(principal, now, since, max(1, min(events, MAX_RECENT_EVENTS))),
        }
        if principal.site_ids is None:
            out["sync"]["clients"] = self._stats.client_freshness()
        return out

    @staticmethod
    def _row(site: Site, now: float) -> dict[str, Any]:
        age = now - site.last_heartbeat if site.last_heartbeat else None
        reach = site_reach(site, now, STALE_AFTER_S)
        return {
            "site_id": site.site_id, "name": site.name, "approval": site.approval.value,
            "lms_version": site.lms_version or None,
            "agents": {"total": site.agent_count, "online": site.online_count,
                       "offline": site.agent_count - site.online_count},
            "last_heartbeat": site.last_heartbeat or None, "heartbeat_age_s": age,
            "reporting": age is not None and reach.reachable,
            "link_up": reach.link.state == HopState.UP,
            "lms_up": None if reach.lms.state == HopState.UNKNOWN else reach.lms.state == HopState.UP,
            "certificates_expiring": site.certificates_expiring or [],
        }

    def _recent(self, principal: Principal, now: float, since: float | None, limit: int) -> list[dict[str, Any]]:
        day = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")
        page = self._events.of_day(day, limit=limit, cursor=None, since=since)
        return [e.to_dict() for e in page.items if principal.can_see_site(e.site_id)]
