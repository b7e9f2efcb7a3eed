"""The agent and site registry, kept from site heartbeats, and its read side.

A site reports only its own agents: a heartbeat of a site that is not approved is refused (nothing written), an
agent that belongs to another site is left as it is (listed in the report as refused), and an agent's kind never
changes once stored. Moving an agent to another site is an admin action (:meth:`AgentService.move`).

Writes cost money (docs/data-model.md, "Write budget": at most one write per agent per 5 minutes in steady
state), so a heartbeat writes an agent only when its status, version or hostname changed, and refreshes a site's
``last_heartbeat`` at most every ``site_touch_interval_s`` (50 s: every full heartbeat, whose default period is
300 s) unless something else changed or IoT Core said the site's link went down after
the stored one (the heartbeat shows it up again at once). Reads cost money too: a
heartbeat reads its site's waiting orders and agents only when the site's item does not say that nothing changed
(:class:`HeartbeatMarks`; docs/data-model.md#the-fleets-part).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from chalicelib.config import Settings
from chalicelib.domain.agent import Agent, AgentFilter
from chalicelib.domain.approval import Approval
from chalicelib.domain.page import Page
from chalicelib.domain.site import Site
from chalicelib.domain.token import Principal
from chalicelib.errors import BadRequest, Conflict, Forbidden, NotFound, StaleWrite, UpstreamError
from chalicelib.repositories.agent import AgentRepository
from chalicelib.repositories.site import SiteRepository
from chalicelib.services.heartbeat_marks import (
    AGENTS_SETTLE_S,
    CLOCK_STEP_S,
    HeartbeatMarks,
    HeartbeatReport,
    agents_digest,
)
from chalicelib.services.optimistic_writes import retry_stale
from chalicelib.services.sites import visible_site
from shared.errors import ErrorCode
from shared.messages.enums import Presence

if TYPE_CHECKING:  # the messages' msgspec mirrors (the site_heartbeat function decodes with them: no pydantic)
    from chalicelib.domain.site_order import SiteOrder
    from shared.messages.structs import AgentPresence, SiteHeartbeat

log = logging.getLogger(__name__)

_WRITTEN, _UNCHANGED, _KEPT = "written", "unchanged", "kept"

class AgentService:
    def __init__(
        self,
        agents: AgentRepository,
        sites: SiteRepository,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        on_site_written: Callable[[Site | None, Site], None] | None = None,
    ) -> None:
        self._agents = agents
        self._sites = sites
        self._settings = settings
        self._clock = clock
        #: told (before, after) each time a heartbeat wrote a site's item (the overview summary)
        self._on_site_written = on_site_written

    # ------------------------------------------------------------ read side

    def get(self, agent_id: str, principal: Principal) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None or not principal.can_see_site(agent.site_id):
            raise NotFound(f"unknown agent {agent_id}", code=ErrorCode.UNKNOWN_AGENT)
        return agent

    def page(
        self, principal: Principal, *, site_id: str | None = None, limit: int = 100, cursor: str | None = None,
        filters: AgentFilter | None = None,
    ) -> Page[Agent]:
        site_id = filters.site_id if filters is not None and filters.site_id is not None else site_id
        if site_id is not None and not principal.can_see_site(site_id):
            return Page([])
        page = self._agents.page(site_id=site_id, limit=limit, cursor=cursor, filters=filters)
        if principal.site_ids is None:
            return page
        return Page([a for a in page.items if principal.can_see_site(a.site_id)], page.cursor)

    def page_of_site(self, site_id: str, principal: Principal, *, limit: int = 100,
                     cursor: str | None = None) -> Page[Agent]:
        """One page of a site's agents (404 for an unknown site or one the caller may not see)."""
        visible_site(self._sites, site_id, principal)
        return self.page(principal, site_id=site_id, limit=limit, cursor=cursor)

    def select(self, filters: AgentFilter, principal: Principal, limit: int) -> list[str]:
        """Ids of the approved agents ``filters`` selects that ``principal`` may see (every page; a batch
        command's targets). More than ``limit`` is a 400."""
        selected: list[str] = []
        cursor: str | None = None
        while True:
            page = self.page(principal, limit=500, cursor=cursor, filters=filters)
            selected += [a.agent_id for a in page.items if a.approval is Approval.APPROVED]
            if len(selected) > limit:
                raise BadRequest(f"the selection holds more than {limit} agents: narrow it")
            cursor = page.cursor
            if cursor is None:
                break
        if not selected:
            raise NotFound("the selection holds no approved agent you may command", code=ErrorCode.UNKNOWN_AGENT)
        return selected

    # ------------------------------------------------------------ administration

    def set_tags(self, agent_id: str, tags: Iterable[str], principal: Principal) -> Agent:
        """Replace an agent's tags (and the tag index) in one transaction."""
        wanted = frozenset(tags)

        def attempt() -> Agent:
            agent = self.get(agent_id, principal)
            principal.require_sites({agent.site_id})
            if agent.tags == wanted:
                return agent
            return self._agents.save_with_tags(dataclasses.replace(agent, tags=wanted), agent.tags)

        return retry_stale(attempt, UpstreamError(f"agent {agent_id}: too many concurrent updates; retry"))

    def set_group(self, agent_id: str, group: str | None, principal: Principal) -> Agent:
        return self._change(agent_id, principal, lambda a: dataclasses.replace(a, group=group))

    def decide(self, agent_id: str, approval: Approval, principal: Principal) -> Agent:
        return self._change(agent_id, principal, lambda a: dataclasses.replace(a, approval=approval))

    def move(self, agent_id: str, site_id: str, principal: Principal) -> Agent:
        """Move an agent to another known site (the caller must see both). It is ``offline`` there until its new
        site reports it; from now on only that site's heartbeats change it. Tags, group and approval are kept."""
        principal.require_sites({site_id})
        visible_site(self._sites, site_id)

        def moved(agent: Agent) -> Agent:
            if agent.site_id == site_id:
                return agent
            return dataclasses.replace(agent, site_id=site_id, status=Presence.OFFLINE,
                                       changed_at=max(agent.changed_at, self._clock()))

        # the tag labels carry the site id: rewrite them with the agent
        before = self.get(agent_id, principal).site_id
        agent = self._change(agent_id, principal, moved, lambda a: self._agents.save_with_tags(a, frozenset()))
        for site in {before, agent.site_id}:  # both sites' next full heartbeats read their agents again
            self._sites.forget(site, agents=True)
        return agent

    def _change(self, agent_id: str, principal: Principal, change: Callable[[Agent], Agent],
                save: Callable[[Agent], Agent] | None = None) -> Agent:
        def attempt() -> Agent:
            agent = self.get(agent_id, principal)
            principal.require_sites({agent.site_id})
            changed = change(agent)
            if changed == agent:
                return agent
            return (save or self._agents.save)(changed)

        return retry_stale(attempt, UpstreamError(f"agent {agent_id}: too many concurrent updates; retry"))

    # ------------------------------------------------------------ heartbeats

    def ingest_heartbeat(self, site_id: str, heartbeat: SiteHeartbeat,
                         orders: Callable[[], Sequence[SiteOrder]] | None = None) -> HeartbeatReport:  # fmt: skip
        """``orders``: reads the orders waiting for the site — called unless the site's item says a heartbeat found
        none less than ``ORDERS_RECHECK_S`` ago (``SiteOrders.give`` clears that). Agents whose retirement the
        site has not reported yet are left out, so that the heartbeats of an LMS that has not received the order do
        not bring them back.

        A full heartbeat listing exactly what the site's last one did, once the registry held exactly that
        (``Site.agents_digest``, computed here from the heartbeat, never taken from the site), reads and writes no
        agent: processing it would write none."""
        # a heartbeat stamped ahead of our clock counts as sent now: a site with a fast clock must not make
        # its later heartbeats look stale
        at = min(heartbeat.timestamp, self._clock())
        site = self._sites.get(site_id)
        if site is not None and site.approval is not Approval.APPROVED:
            raise Forbidden(f"site {site_id} is not approved ({site.approval.value}): its heartbeats are refused "
                            "until an admin approves it")
        if site is not None and at < site.last_heartbeat:
            if site.last_heartbeat - at <= CLOCK_STEP_S:
                return HeartbeatReport(site_id, stale=True)
            # far older than the last one: an LMS never queues heartbeats, so its clock was stepped back — taken
            # as sent now, else every heartbeat would be stale until its clock caught up (an hour for an hour)
            log.warning("site %s: heartbeat stamped %.0f s before its last one: its clock was stepped back; taken "
                        "as sent now", site_id, site.last_heartbeat - at)  # fmt: skip
            at = self._clock()

        marks = HeartbeatMarks.of(site)
        retiring: frozenset[str] = frozenset()
        if orders is not None and not marks.no_orders_since(at):
            from chalicelib.services.site_orders import retiring_agents  # the heartbeat function's path only

            waiting = orders()
            retiring = retiring_agents(waiting)
            marks.saw_orders(bool(waiting), at)
        listed: dict[str, AgentPresence] = {p.agent_id: p for p in heartbeat.agents if p.agent_id not in retiring}
        left_out = tuple(sorted(p.agent_id for p in heartbeat.agents if p.agent_id in retiring))
        digest = agents_digest(listed.values()) if heartbeat.full else None
        if site is not None and marks.spares_agents(digest):
            site_written = self._touch_site(site_id, site, heartbeat, list(listed.values()), at, marks)
            return HeartbeatReport(site_id, site_written, agents_retiring=left_out, agents_unchanged=True,
                                   orders_read=marks.orders_read)  # fmt: skip

        if heartbeat.full:
            known = {a.agent_id: a for a in self._agents.list_by_site(site_id)}
            others = [agent_id for agent_id in listed if agent_id not in known]
            known.update(self._agents.get_many(others))
        else:
            known = self._agents.get_many(listed)
        refused = tuple(sorted(a for a in listed if a in known and known[a].site_id != site_id))
        if refused:
            log.warning("site %s reported agent(s) of other sites, left untouched: %s", site_id, ", ".join(refused))
            for agent_id in refused:
                del listed[agent_id]

        outcomes: Counter[str] = Counter()
        counted = (0, 0)  # what a changed-only heartbeat's writes change of the site's (agents, online)
        for presence in listed.values():
            before = known.get(presence.agent_id)
            outcome = self._upsert(site_id, presence, before, at)
            outcomes[outcome] += 1
            if outcome == _WRITTEN and not heartbeat.full:
                was_online = before is not None and before.status is Presence.ONLINE
                counted = (counted[0] + (before is None),
                           counted[1] + (presence.status is Presence.ONLINE) - was_online)  # fmt: skip
        written, offlined = outcomes[_WRITTEN], 0
        if heartbeat.full:
            for agent in known.values():
                if agent.agent_id in listed or agent.site_id != site_id or agent.status is Presence.OFFLINE:
                    continue
                outcome = self._write(dataclasses.replace(agent, status=Presence.OFFLINE, changed_at=at)) \
                    if agent.changed_at <= at else _KEPT
                outcomes[outcome] += 1
                offlined += outcome == _WRITTEN
        # the registry now holds what a full heartbeat listed unless a write was lost or refused; any agent written
        # by a changed-only one leaves what the site's item says unknown
        if heartbeat.full:
            settled = site is None or at - site.last_heartbeat >= AGENTS_SETTLE_S
            marks.know_agents(digest if settled and not refused and not outcomes[_KEPT] else None)
        elif outcomes[_WRITTEN] or outcomes[_KEPT]:
            marks.agents_written()
        site_written = self._touch_site(site_id, site, heartbeat, list(listed.values()), at, marks, counted)
        return HeartbeatReport(site_id, site_written, written, offlined, refused, agents_retiring=left_out,
                               orders_read=marks.orders_read)  # fmt: skip

    def _upsert(self, site_id: str, presence: AgentPresence, agent: Agent | None, at: float) -> str:
        """Create or update an agent of ``site_id`` (never one of another site; its stored kind is kept): written,
        already so (unchanged), or kept as stored (a newer write; a lost race)."""
        if agent is None:
            return self._write(
                Agent(
                    agent_id=presence.agent_id,
                    site_id=site_id,
                    status=presence.status,
                    kind=presence.kind,
                    last_seen=presence.last_seen,
                    version=presence.version,
                    hostname=presence.hostname,
                    config_version=presence.config_version,
                    changed_at=at,
                )
            )
        if agent.site_id != site_id or agent.changed_at > at:
            return _KEPT if agent.differs_from(presence) else _UNCHANGED
        if not agent.differs_from(presence):
            return _UNCHANGED
        return self._write(
            dataclasses.replace(
                agent,
                status=presence.status,
                last_seen=presence.last_seen if presence.last_seen is not None else agent.last_seen,
                version=presence.version if presence.version is not None else agent.version,
                hostname=presence.hostname if presence.hostname is not None else agent.hostname,
                config_version=presence.config_version if presence.config_version is not None
                else agent.config_version,
                changed_at=at,
            )
        )

    def _write(self, agent: Agent) -> str:
        """Save one agent; a lost race (another heartbeat wrote it meanwhile) is left to the winner."""
        try:
            self._agents.save(agent)
        except StaleWrite:
            log.info("agent %s changed concurrently; keeping the other write", agent.agent_id)
            return _KEPT
        return _WRITTEN

    def _touch_site(self, site_id: str, site: Site | None, heartbeat: SiteHeartbeat, reported: list[AgentPresence],
                    at: float, marks: HeartbeatMarks, counted: tuple[int, int] = (0, 0)) -> bool:
        """Refresh the site's record; ``reported`` are the heartbeat's agents of this site (without refused ones).
        A changed ``marks.agents_digest`` is written at once; ``marks.orders_checked_at`` rides on the next write.
        The site's agent and online counts: a full heartbeat's, or for a changed-only one the stored ones moved by
        what its writes changed (``counted``), so that the overview follows agents' changes at once, not at the next
        full heartbeat (minutes away: docs/architecture.md#presence)."""
        if heartbeat.full:
            agent_count = len(reported)
            online = sum(1 for p in reported if p.status is Presence.ONLINE)
        else:
            agent_count = (site.agent_count if site is not None else 0) + counted[0]
            online = min(agent_count, max(0, (site.online_count if site is not None else 0) + counted[1]))
        if (
            site is not None
            and site.lms_version == heartbeat.lms_version
            and (heartbeat.lms_config_version is None or site.lms_config_version == heartbeat.lms_config_version)
            and heartbeat.certificates_expiring in (None, site.certificates_expiring)
            and site.full_period_s == heartbeat.full_period_s  # the silence the cloud allows the site changed
            and site.agent_count == agent_count
            and site.online_count == online
            and site.agents_digest == marks.agents_digest
            and not marks.agents_changed
            and not site.link_down_since_heartbeat  # this heartbeat says the link is up again: store it now
            and at - site.last_heartbeat < self._settings.site_touch_interval_s
        ):
            return False
        config_version = heartbeat.lms_config_version or (site.lms_config_version if site is not None else None)
        expiring = heartbeat.certificates_expiring
        if expiring is None and site is not None:
            expiring = site.certificates_expiring  # an older LMS reports none: keep what was known
        if site is None:
            updated = Site(site_id, at, heartbeat.lms_version, agent_count, online, lms_config_version=config_version,
                           certificates_expiring=expiring, agents_digest=marks.agents_digest,
                           orders_checked_at=marks.orders_checked_at, full_period_s=heartbeat.full_period_s)
        else:  # keep the registration fields
            updated = dataclasses.replace(site, last_heartbeat=at, lms_version=heartbeat.lms_version,
                                          agent_count=agent_count, online_count=online,
                                          lms_config_version=config_version, certificates_expiring=expiring,
                                          agents_digest=marks.agents_digest, orders_checked_at=marks.orders_checked_at,
                                          full_period_s=heartbeat.full_period_s)
        # the marks are the intake's own: no route shows them, so they alone change no ETag
        touch_only = site is not None and updated == dataclasses.replace(
            site, last_heartbeat=at, agents_digest=marks.agents_digest, orders_checked_at=marks.orders_checked_at)
        try:
            saved = self._sites.save(updated, mark=not touch_only)
        except (StaleWrite, Conflict):
            log.info("site %s changed concurrently; keeping the other write", site_id)
            return False
        if self._on_site_written is not None:
            self._on_site_written(site, saved)
        return True
