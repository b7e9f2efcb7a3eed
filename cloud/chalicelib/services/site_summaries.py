"""The overview summary kept current (docs/data-model.md#the-overview-summary): what the dashboard's overview reads
instead of every site and ClassTop client of the tenant.

* **The heartbeat intake** (:meth:`SiteSummaries.site_written`, called after it wrote a site's item) writes the
  site's entry when what the overview shows of it changed (agents, online, version, certificates, a link down
  before this heartbeat) or when the site was quiet long enough before it for the pass to have let the clock decide
  its silence (``d``). A touch that only moves ``last_heartbeat`` writes nothing. One UpdateItem of the site's own
  map key, conditional on the site item's revision. The lifecycle events' intake (``SiteLinkService``) does the same.
* **The minute's pass** (:meth:`SiteSummaries.reconcile`, run by ``evaluate_alerts`` after the alerts, on the
  sites' listing the alerts read: :meth:`SiteSummaries.listing`) compares every site and client with its entry and
  writes what differs, in one UpdateItem per item (and per 20 keys): sites whose heartbeat is :func:`watch_after` old
  (``d``: the exact heartbeat, the clock decides their silence), registrations, approvals, names, entries the intake
  lost, sites and clients gone (an entry written after the listing was read stays: the next pass lists its site);
  and each item's ``beats`` (the sites' last heartbeats) when one is :data:`BEATS_REFRESH_S` behind.
* **The overview** (:meth:`SiteSummaries.read`) reads the items in one BatchGetItem. A tenant without them (made
  before this summary existed, or after :data:`SHARDS` changed) gets them built from its sites and clients on that
  first read (and by the next pass, whichever comes first); concurrent builders keep the first item written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.domain.page import MAX_PAGE_SIZE, every_item
from chalicelib.domain.site import Site
from chalicelib.domain.site_summary import (
    BEATS_REFRESH_S,
    client_entry,
    shown,
    site_entry,
    watch_after,
    watched,
)
from chalicelib.errors import CloudError
from chalicelib.repositories.change_mark import Area, bump
from chalicelib.repositories.site import SiteRepository
from chalicelib.repositories.site_summary import SHARDS, SiteSummaryRepository, Summary, shard_of

if TYPE_CHECKING:  # the heartbeat function, which never reads clients, does not load their table
    from chalicelib.repositories.classtop_client import ClassTopClientRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PassReport:
    built: bool = False
    sites_written: int = 0
    sites_removed: int = 0
    beats_written: int = 0
    clients_written: int = 0


@dataclass(frozen=True, slots=True)
class SiteListing:
    """Every site of the tenant (retired ones too) and the clock when the listing was read: the pass judges the sites'
    silence at that time, and leaves alone the entries written after it (a site the listing could not hold yet)."""

    sites: list[Site]
    read_at: float


class SiteSummaries:
    def __init__(
        self,
        summaries: SiteSummaryRepository,
        sites: SiteRepository,
        clients: Callable[[], ClassTopClientRepository],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._summaries = summaries
        self._sites = sites
        self._clients = clients  # built on first use: the heartbeat function never reads clients
        self._clock = clock

    # ------------------------------------------------------------ the intake

    def site_written(self, before: Site | None, after: Site) -> None:
        """The intake wrote ``after`` over ``before``: write the site's entry if the overview would show it
        differently. A failure is logged: the minute's pass writes the entry again."""
        was_silent = before is None or after.last_heartbeat - before.last_heartbeat > watch_after(before)
        entry = site_entry(after, down=False)
        if not was_silent and before is not None and shown(site_entry(before, down=False)) == shown(entry):
            return
        try:
            self._summaries.put_sites({after.site_id: entry})
        except CloudError:
            log.warning("overview summary of site %s not written; the next pass writes it", after.site_id)

    # ------------------------------------------------------------ the overview

    def read(self) -> Summary:
        """The summary; built from the sites and clients when the tenant has none yet."""
        summary = self._summaries.read()
        if summary is None:
            summary = self._build()
        return summary

    def _build(self, listing: SiteListing | None = None) -> Summary:
        listing = self.listing() if listing is None else listing
        summary = Summary(
            {s.site_id: site_entry(s, down=watched(s, listing.read_at)) for s in _listed(listing)},
            {},
            {c.client_uuid: _client(c) for c in self._all_clients()},
        )
        self._summaries.create(summary)
        log.info("overview summary built: %d sites, %d clients", len(summary.sites), len(summary.clients))
        return summary

    # ------------------------------------------------------------ the minute's pass

    def listing(self) -> SiteListing:
        """Every site of the tenant, read now (the index's keys, then the sites' items: ``SiteRepository.page``)."""
        read_at = self._clock()
        return SiteListing(every_item(lambda cursor: self._sites.page(limit=MAX_PAGE_SIZE, cursor=cursor)), read_at)

    def reconcile(self, listing: SiteListing | None = None) -> PassReport:
        """Bring every entry in line with the sites and clients (see the module docstring): the sites of ``listing``
        (``evaluate_alerts`` passes the one the alerts read), else of a listing read now."""
        stored = self._summaries.read()
        if stored is None:
            self._build(listing)
            return PassReport(built=True)
        listing = self.listing() if listing is None else listing
        sites = _listed(listing)
        wanted = {s.site_id: site_entry(s, down=watched(s, listing.read_at)) for s in sites}
        changed = {k: v for k, v in wanted.items() if shown(stored.sites.get(k)) != shown(v)}
        # an entry the listing does not hold is gone unless written after the listing was read (by the intake: a site
        # registered since, which the next pass lists)
        gone = sorted(
            k for k, v in stored.sites.items() if k not in wanted and float(v.get("h") or 0) < listing.read_at
        )
        kept = self._summaries.put_sites(changed) if changed else set()
        # an entry of a higher revision than its site's item (read again: the listing comes from an index, which may
        # lag) outlived the site (deleted, then made again by a heartbeat: its revisions start over): replaced, or
        # it would block the new site's entries for good
        reborn = {
            k: wanted[k]
            for k in kept
            if int((stored.sites.get(k) or {}).get("r") or 0) > wanted[k]["r"]
            and _revision(self._sites.get(k)) < int((stored.sites.get(k) or {}).get("r") or 0)
        }
        if reborn:
            self._summaries.remove(sites=reborn)
            kept -= set(reborn) - self._summaries.put_sites(reborn)
        clients = {c.client_uuid: _client(c) for c in self._all_clients()}
        changed_clients = {k: v for k, v in clients.items() if stored.clients.get(k) != v}
        gone_clients = sorted(set(stored.clients) - set(clients))
        if changed_clients:
            self._summaries.put_clients(changed_clients)
        if gone or gone_clients:
            self._summaries.remove(sites=gone, clients=gone_clients)
        beats = self._beats(sites, stored)
        if len(changed) > len(kept) or gone:
            bump(Area.SITES)
        return PassReport(False, len(changed) - len(kept), len(gone), beats, len(changed_clients))

    def _beats(self, sites: list[Site], stored: Summary) -> int:
        """Store each item's sites' last heartbeats again where one is :data:`BEATS_REFRESH_S` behind."""
        written = 0
        for shard in range(SHARDS):
            mine = [s for s in sites if shard_of(s.site_id) == shard and s.last_heartbeat]
            behind = [s for s in mine if s.last_heartbeat - _known(stored, s.site_id) >= BEATS_REFRESH_S]
            if behind:
                self._summaries.put_beats(shard, {s.site_id: s.last_heartbeat for s in mine})
                written += 1
        return written

    def _all_clients(self) -> list[ClassTopClient]:
        clients = self._clients()
        return every_item(lambda cursor: clients.page(limit=MAX_PAGE_SIZE, cursor=cursor))


def _listed(listing: SiteListing) -> list[Site]:
    """The sites the overview lists (retired ones are not)."""
    return [s for s in listing.sites if s.retired_at is None]


def _client(client: ClassTopClient) -> dict[str, object]:
    return client_entry(client.approval is Approval.PENDING, client.last_sync_at)


def _revision(site: Site | None) -> int:
    return 0 if site is None else site.revision or 0


def _known(summary: Summary, site_id: str) -> float:
    entry = summary.sites.get(site_id) or {}
    return max(float(entry.get("h") or 0), summary.beats.get(site_id, 0.0))
