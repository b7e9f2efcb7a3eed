"""What a site heartbeat's intake (:meth:`AgentService.ingest_heartbeat`) reports, and the marks on a site's item
that spare a heartbeat reads (:class:`HeartbeatMarks`; docs/data-model.md#the-fleets-part)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the messages' msgspec mirrors (the site_heartbeat function decodes with them: no pydantic)
    from chalicelib.domain.site import Site
    from shared.messages.structs import AgentPresence


#: a heartbeat older than the site's last one by more than this is its clock stepped back, not a late delivery
CLOCK_STEP_S = 300.0
#: a heartbeat that found no order waiting for its site spares the next ones reading them for this long (an order
#: given clears it at once: ``SiteOrders.give``; the bound covers an order stored whose clearing failed)
ORDERS_RECHECK_S = 300.0
#: a full heartbeat sooner than this after the site's item was last written reads the site's agents from an index
#: that may not show that write yet (a global secondary index is eventually consistent): it records no digest
AGENTS_SETTLE_S = 10.0


@dataclass(frozen=True, slots=True)
class HeartbeatReport:
    site_id: str
    site_written: bool = False
    agents_written: int = 0
    agents_offlined: int = 0
    #: agents the heartbeat listed that belong to another site: left untouched (moving one is an admin action)
    agents_refused: tuple[str, ...] = ()
    #: the heartbeat was older than the stored one and was ignored
    stale: bool = False
    #: agents the heartbeat listed whose retirement the site has not carried out yet: left out
    agents_retiring: tuple[str, ...] = ()
    #: orders to the site published again after this (full) heartbeat (chalicelib.services.site_orders)
    orders_resent: int = 0
    #: the full heartbeat listed what the site's item says the registry holds: no agent was read
    agents_unchanged: bool = False
    #: the site's waiting orders were read (its item did not say that none wait)
    orders_read: bool = False


def agents_digest(listed: Iterable[AgentPresence]) -> str:
    """The digest of what a heartbeat says of its agents that a write would store (``last_seen`` alone is no
    change: ``Agent.differs_from``)."""
    digest = hashlib.blake2b(digest_size=16)
    for p in sorted(listed, key=lambda p: p.agent_id):
        fields = (p.agent_id, p.status.value, p.kind.value, p.version, p.hostname, p.config_version)
        digest.update(json.dumps(fields).encode() + b"\n")
    return digest.hexdigest()


@dataclass(slots=True)
class HeartbeatMarks:
    """What the site's item says that spares a heartbeat reads (``Site.agents_digest``, ``Site.orders_checked_at``),
    as this heartbeat leaves it."""

    agents_digest: str | None
    orders_checked_at: float | None
    orders_read: bool = False
    #: a changed-only heartbeat wrote (or lost) an agent: the site's item is written now (``last_heartbeat`` then
    #: says when, for :data:`AGENTS_SETTLE_S`)
    agents_changed: bool = False

    @classmethod
    def of(cls, site: Site | None) -> HeartbeatMarks:
        return cls(None, None) if site is None else cls(site.agents_digest, site.orders_checked_at)

    def spares_agents(self, digest: str | None) -> bool:
        """The full heartbeat of ``digest`` lists what the registry holds."""
        return digest is not None and digest == self.agents_digest

    def know_agents(self, digest: str | None) -> None:
        """The registry now holds what the heartbeat of ``digest`` listed (None: not known)."""
        self.agents_digest = digest

    def agents_written(self) -> None:
        """A changed-only heartbeat wrote agents: what the registry holds is no longer known."""
        self.agents_digest, self.agents_changed = None, True

    def no_orders_since(self, at: float) -> bool:
        """A heartbeat found no order waiting less than ``ORDERS_RECHECK_S`` before ``at``."""
        return self.orders_checked_at is not None and 0 <= at - self.orders_checked_at < ORDERS_RECHECK_S

    def saw_orders(self, waiting: bool, at: float) -> None:
        self.orders_checked_at, self.orders_read = (None if waiting else at), True
