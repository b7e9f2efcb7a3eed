"""Presence per hop (docs/alerts.md#presence-per-hop): the state and last-seen time of each hop between the cloud
and an agent — the LMS's cloud link, the LMS (its heartbeats) and the agent at its LMS — computed when read, from
the site item alone (no agent item is rewritten when a site goes quiet).

* **link**: ``down`` when IoT Core's last lifecycle event of the site's connection is a disconnection newer than
  the last heartbeat (why, from the event's ``disconnectReason``: :data:`LINK_REASONS`), or when no
  heartbeat came for ``Site.stale_after(site_stale_s)`` (``site_stale_s``, or 2.5 of the full heartbeat period the
  site's LMS states when longer) and no newer connection was seen (``missed_heartbeats``: from the cloud a
  dead LMS and a dead link look the same); else ``up``.
* **lms**: ``up`` while its heartbeats come; ``down`` (``missed_heartbeats``) when the link is known up but the
  heartbeats stopped; ``unknown`` (``site_unreachable``) while the link is down.
* **agent**: what its LMS last reported (``online``/``offline``, ``reported_by_lms``) while the site is reachable;
  ``unknown — site unreachable since …`` otherwise, never ``offline``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.agent import Agent
from chalicelib.domain.site import LINK_DISCONNECTED, Site
from chalicelib.repositories.site import SiteRepository
from shared.messages.enums import DisconnectReason

CONNECTED, DISCONNECTED = "connected", LINK_DISCONNECTED


class HopState(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class HopReason(StrEnum):
    HEARTBEAT = "heartbeat"
    CONNECTED = "connected"
    MISSED_HEARTBEATS = "missed_heartbeats"
    LAST_WILL = "last_will"
    CLEAN_SHUTDOWN = "clean_shutdown"
    LINK_LOST = "link_lost"
    KEEP_ALIVE_TIMEOUT = "keep_alive_timeout"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    CLIENT_ERROR = "client_error"
    AUTH_ERROR = "auth_error"
    SERVER_DISCONNECT = "server_disconnect"
    SITE_UNREACHABLE = "site_unreachable"
    REPORTED_BY_LMS = "reported_by_lms"


#: a link's reason for each ``disconnectReason`` of IoT Core's lifecycle events (anything else: ``link_lost``)
LINK_REASONS: dict[DisconnectReason, HopReason] = {
    DisconnectReason.CLIENT_INITIATED_DISCONNECT: HopReason.CLEAN_SHUTDOWN,
    DisconnectReason.CONNECTION_LOST: HopReason.LINK_LOST,
    DisconnectReason.MQTT_KEEP_ALIVE_TIMEOUT: HopReason.KEEP_ALIVE_TIMEOUT,
    DisconnectReason.DUPLICATE_CLIENTID: HopReason.DUPLICATE_CLIENT_ID,
    DisconnectReason.CLIENT_ERROR: HopReason.CLIENT_ERROR,
    DisconnectReason.AUTH_ERROR: HopReason.AUTH_ERROR,
    DisconnectReason.FORBIDDEN_ACCESS: HopReason.AUTH_ERROR,
    DisconnectReason.SERVER_INITIATED_DISCONNECT: HopReason.SERVER_DISCONNECT,
    DisconnectReason.API_INITIATED_DISCONNECT: HopReason.SERVER_DISCONNECT,
    DisconnectReason.THROTTLED: HopReason.SERVER_DISCONNECT,
}
#: the reasons a lifecycle event gives for a link down (the link itself, not a silent LMS)
LIFECYCLE_DOWN = frozenset({*LINK_REASONS.values(), HopReason.LAST_WILL, HopReason.LINK_LOST})


def link_reason(reason: DisconnectReason) -> HopReason:
    return LINK_REASONS.get(reason, HopReason.LINK_LOST)


@dataclass(frozen=True, slots=True)
class Hop:
    state: str
    reason: HopReason
    #: when the hop entered its state, as far as the cloud knows
    since: float | None
    last_seen: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason.value, "since": self.since, "last_seen": self.last_seen}


@dataclass(frozen=True, slots=True)
class SiteReach:
    link: Hop
    lms: Hop

    @property
    def reachable(self) -> bool:
        return self.link.state == HopState.UP and self.lms.state == HopState.UP

    @property
    def unreachable_since(self) -> float | None:
        return None if self.reachable else (self.link.since if self.link.state != HopState.UP else self.lms.since)

    @property
    def link_down(self) -> bool:
        return self.link.state == HopState.DOWN

    def to_dict(self) -> dict[str, Any]:
        return {"link": self.link.to_dict(), "lms": self.lms.to_dict(), "reachable": self.reachable,
                "unreachable_since": self.unreachable_since}


def site_reach(site: Site, now: float, stale_s: float) -> SiteReach:
    """The link and LMS hops of ``site`` at ``now`` (see the module docstring); ``stale_s``: the silence that shows
    a site down unless the period its LMS states asks for longer (``Site.stale_after``)."""
    beat = site.last_heartbeat
    changed = site.link_changed_at
    silent = now - beat > site.stale_after(stale_s)
    if site.link_down_since_heartbeat and changed is not None:
        known = {r.value for r in HopReason}
        reason = HopReason(site.link_reason) if site.link_reason in known else HopReason.LINK_LOST
        return SiteReach(Hop(HopState.DOWN, reason, changed, beat),
                         Hop(HopState.UNKNOWN, HopReason.SITE_UNREACHABLE, changed, beat))
    if silent and site.link_state == CONNECTED and changed is not None and changed > beat:
        return SiteReach(Hop(HopState.UP, HopReason.CONNECTED, changed, changed),
                         Hop(HopState.DOWN, HopReason.MISSED_HEARTBEATS, beat, beat))
    if silent:
        return SiteReach(Hop(HopState.DOWN, HopReason.MISSED_HEARTBEATS, beat, beat),
                         Hop(HopState.UNKNOWN, HopReason.SITE_UNREACHABLE, beat, beat))
    link_since = changed if site.link_state == CONNECTED and changed is not None else None
    return SiteReach(Hop(HopState.UP, HopReason.HEARTBEAT, link_since, beat),
                     Hop(HopState.UP, HopReason.HEARTBEAT, None, beat))


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def agent_presence(agent: Agent, reach: SiteReach) -> dict[str, Any]:
    """What the API shows of an agent's presence: the shown state, and each hop."""
    if reach.reachable:
        shown = agent.status.value
        hop = Hop(agent.status.value, HopReason.REPORTED_BY_LMS, agent.changed_at or None, agent.last_seen)
    else:
        since = reach.unreachable_since
        shown = f"unknown — site unreachable since {_iso(since)}" if since else "unknown — site unreachable"
        hop = Hop(HopState.UNKNOWN, HopReason.SITE_UNREACHABLE, since, agent.last_seen)
    return {"state": hop.state, "shown": shown,
            "hops": {"agent": hop.to_dict(), "lms": reach.lms.to_dict(), "link": reach.link.to_dict()}}


class SitePresence:
    """Adds presence per hop to agents read for the API: one site read per site of the batch."""

    def __init__(self, sites: SiteRepository, stale_s: float, clock: Callable[[], float]) -> None:
        self._sites = sites
        self._stale_s = stale_s
        self._clock = clock

    def reach(self, site: Site) -> SiteReach:
        return site_reach(site, self._clock(), self._stale_s)

    def describe(self, agents: Iterable[Agent]) -> list[dict[str, Any]]:
        """Each agent's ``to_dict()`` with its ``presence`` (an agent whose site is unknown gets none)."""
        now = self._clock()
        reaches: dict[str, SiteReach | None] = {}
        described: list[dict[str, Any]] = []
        for agent in agents:
            if agent.site_id not in reaches:
                site = self._sites.get(agent.site_id)
                reaches[agent.site_id] = None if site is None else site_reach(site, now, self._stale_s)
            reach = reaches[agent.site_id]
            described.append({**agent.to_dict(), "presence": None if reach is None else agent_presence(agent, reach)})
        return described
