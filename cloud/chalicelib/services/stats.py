"""Statistics per tenant and per site: agents online/offline, sites reporting, command success rates (from
daily rollups written when a command finishes, and each scope's ring of its last 8 days: ``repositories/rollup.py``)
and sync freshness.

A site is *reporting* when its last heartbeat is at most ``Site.stale_after()`` old (150 s, or 2.5 of the full
heartbeat period its LMS states). Success rates count per-agent outcomes: ``succeeded / (succeeded + failed +
timed_out + expired)`` over the last ``days`` days.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.domain.command import CommandRecord
from chalicelib.domain.page import MAX_PAGE_SIZE, every_item
from chalicelib.domain.report_limits import MAX_DAYS
from chalicelib.domain.site import Site
from chalicelib.domain.site_summary import freshness
from chalicelib.domain.token import Principal
from chalicelib.errors import BadRequest, CloudError
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.classtop_client import ClassTopClientRepository
from chalicelib.repositories.rollup import RollupRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.services.sites import visible_site
from shared.messages import CommandStatus, Presence

log = logging.getLogger(__name__)

ROLLUP_RETENTION_S = 400 * 24 * 3600
_FINISHED = {
    CommandStatus.SUCCEEDED: "commands_succeeded",
    CommandStatus.FAILED: "commands_failed",
    CommandStatus.REJECTED: "commands_failed",
    CommandStatus.TIMED_OUT: "commands_timed_out",
    CommandStatus.EXPIRED: "commands_expired",
}


def tenant_scope() -> str:
    return "tenant"


def site_scope(site_id: str) -> str:
    return f"site#{site_id}"


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")


def _summary(counts: Counter[str], days: int, first: str) -> dict[str, Any]:
    finished = sum(
        counts.get(k, 0) for k in ("commands_succeeded", "commands_failed", "commands_timed_out", "commands_expired")
    )
    return {
        "days": days,
        "since_day": first,
        "finished": finished,
        "succeeded": counts.get("commands_succeeded", 0),
        "failed": counts.get("commands_failed", 0),
        "timed_out": counts.get("commands_timed_out", 0),
        "expired": counts.get("commands_expired", 0),
        "success_rate": None if finished == 0 else counts.get("commands_succeeded", 0) / finished,
    }


class StatsService:
    def __init__(
        self,
        rollups: RollupRepository,
        sites: SiteRepository,
        agents: AgentRepository,
        classtop_clients: ClassTopClientRepository,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rollups = rollups
        self._sites = sites
        self._agents = agents
        self._classtop_clients = classtop_clients
        self._clock = clock

    # ------------------------------------------------------------ write side

    def command_finished(self, record: CommandRecord) -> None:
        """Count a command that just became terminal: its per-agent outcomes, tenant-wide and per site. A
        failure is logged: the command itself is stored, only the statistic is lost."""
        now = self._clock()
        per_site: dict[str, Counter[str]] = {}
        for outcome in record.results.values():
            name = _FINISHED.get(outcome.status)
            if name is not None:
                per_site.setdefault(outcome.site_id, Counter())[name] += 1
        total: Counter[str] = Counter()
        for counts in per_site.values():
            total.update(counts)
        try:
            self._rollups.add(tenant_scope(), _day(now), dict(total), now + ROLLUP_RETENTION_S)
            for site_id, counts in per_site.items():
                self._rollups.add(site_scope(site_id), _day(now), dict(counts), now + ROLLUP_RETENTION_S)
        except CloudError:
            log.exception("statistics of command %s lost", record.command_id)

    # ------------------------------------------------------------ read side

    def tenant(self, principal: Principal, days: int = 7) -> dict[str, Any]:
        self._check_days(days)
        now = self._clock()
        sites = [s for s in self._all_sites() if principal.can_see_site(s.site_id)]
        reporting = sum(1 for s in sites if now - s.last_heartbeat <= s.stale_after())
        agents = sum(s.agent_count for s in sites)
        online = sum(s.online_count for s in sites)
        out: dict[str, Any] = {
            "sites": {"total": len(sites), "reporting": reporting, "stale": len(sites) - reporting},
            "agents": {"total": agents, "online": online, "offline": agents - online},
            "commands": self._commands(tenant_scope() if principal.site_ids is None else None, sites, now, days),
        }
        if principal.site_ids is None:
            out["clients"] = self._classtop_client_freshness(now)
        return out

    def site(self, site_id: str, principal: Principal, days: int = 7) -> dict[str, Any]:
        self._check_days(days)
        now = self._clock()
        site = visible_site(self._sites, site_id, principal)
        agents = self._agents.list_by_site(site_id)
        online = sum(1 for a in agents if a.status is Presence.ONLINE)
        age = now - site.last_heartbeat if site.last_heartbeat else None
        return {
            "site_id": site_id,
            "agents": {"total": len(agents), "online": online, "offline": len(agents) - online},
            "last_heartbeat": site.last_heartbeat or None,
            "heartbeat_age_s": age,
            "reporting": age is not None and age <= site.stale_after(),
            "stale_after_s": site.stale_after(),
            "commands": self._commands(site_scope(site_id), [site], now, days),
        }

    def _commands(self, scope: str | None, sites: list[Site], now: float, days: int) -> dict[str, Any]:
        return self._windows(scope, [s.site_id for s in sites], now, (days,))[days]

    def _windows(
        self, scope: str | None, site_ids: list[str], now: float, windows: tuple[int, ...]
    ) -> dict[int, dict[str, Any]]:
        """The commands summary over each of ``windows`` (days), from the counters of the longest: the tenant's
        (``scope``), or the sum of ``site_ids`` (a site-scoped caller). Up to a week, from each scope's ring (one
        BatchGetItem, ``repositories/rollup.py``); longer, one Query per scope."""
        first = _day(now - (max(windows) - 1) * 86400)
        scopes = [scope] if scope is not None else [site_scope(s) for s in site_ids]
        days = self._rollups.recent(scopes, first, _day(now))
        out: dict[int, dict[str, Any]] = {}
        for window in windows:
            since = _day(now - (window - 1) * 86400)
            counts: Counter[str] = Counter()
            for of_scope in days:
                for day, day_counts in of_scope.items():
                    if day >= since:
                        counts.update(day_counts)
            out[window] = _summary(counts, window, since)
        return out

    def commands_over(self, principal: Principal, site_ids: list[str], windows: tuple[int, ...]
                      ) -> dict[int, dict[str, Any]]:  # fmt: skip
        """Finished commands and the success rate over each of ``windows`` (days): the tenant's, or the sum of a
        scoped caller's sites (``site_ids``)."""
        for days in windows:
            self._check_days(days)
        return self._windows(tenant_scope() if principal.site_ids is None else None, site_ids, self._clock(), windows)

    def _classtop_client_freshness(self, now: float) -> dict[str, Any]:
        return freshness(((c.approval.value == "pending", c.last_sync_at) for c in self.all_clients()), now)

    def all_clients(self) -> list[ClassTopClient]:
        return every_item(lambda cursor: self._classtop_clients.page(limit=MAX_PAGE_SIZE, cursor=cursor))

    def _all_sites(self) -> list[Site]:
        return every_item(lambda cursor: self._sites.page(limit=MAX_PAGE_SIZE, cursor=cursor))

    @staticmethod
    def _check_days(days: int) -> None:
        if not 1 <= days <= MAX_DAYS:
            raise BadRequest(f"days: between 1 and {MAX_DAYS}")
