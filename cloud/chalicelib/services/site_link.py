"""A site's cloud link from IoT Core's lifecycle events (the ``site_presence`` rule, ``infra/aws/rules.py``;
docs/alerts.md#presence-per-hop): each ``connected``/``disconnected`` event of a site's client (its thing name) is
kept on the site item — ``link_state``, ``link_changed_at`` (IoT Core's time), ``link_reason`` (a ``HopReason``:
why the link went down) and ``link_version`` — if it is later than the one kept (``LifecycleEvent.order``: AWS
sends these at least once and possibly out of order, so a repeat or a late one changes nothing).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.site import Site
from chalicelib.errors import StaleWrite, UpstreamError
from chalicelib.repositories.site import SiteRepository
from chalicelib.services.site_presence import CONNECTED, HopReason, link_reason
from shared.names import Namespace
from shared.topics import site_of_thing

if TYPE_CHECKING:  # IoT Core's event, decoded by its msgspec mirror (no pydantic)
    from shared.messages.structs import LifecycleEvent

log = logging.getLogger(__name__)

_ATTEMPTS = 5  # a heartbeat may write the site meanwhile: read it again


@dataclass(frozen=True, slots=True)
class LinkReport:
    site_id: str | None = None
    applied: bool = False
    state: str | None = None
    reason: str | None = None


def stored_order(site: Site) -> tuple[int, int, int] | None:
    if site.link_changed_at is None or site.link_state is None:
        return None
    return round(site.link_changed_at * 1000), site.link_version or 0, 0 if site.link_state == CONNECTED else 1


class SiteLinkService:
    def __init__(self, sites: SiteRepository, namespace: Namespace,
                 on_site_written: Callable[[Site | None, Site], None] | None = None) -> None:  # fmt: skip
        self._sites = sites
        self._namespace = namespace
        #: told (before, after) each time an event was kept on a site's item (the overview summary)
        self._on_site_written = on_site_written

    def record(self, client_id: str, event: LifecycleEvent) -> LinkReport:
        """Keep ``event`` (of the client ``client_id``, from the topic) on its site, if it is the latest."""
        site_id = site_of_thing(self._namespace, client_id)
        if site_id is None or event.client_id != client_id:
            log.warning("lifecycle event of %r (message: %r): not a site of this namespace", client_id,
                        event.client_id)  # fmt: skip
            return LinkReport()
        reason = HopReason.CONNECTED if event.reason is None else link_reason(event.reason)
        for _ in range(_ATTEMPTS):
            site = self._sites.get(site_id)
            if site is None or site.retired_at is not None:
                return LinkReport(site_id)  # unknown or retired: nothing kept
            held = stored_order(site)
            if held is not None and event.order() <= held:
                return LinkReport(site_id, False, site.link_state, site.link_reason)
            updated = dataclasses.replace(site, link_state=event.event.value, link_changed_at=event.timestamp / 1000,
                                          link_reason=reason.value, link_version=event.version_number)  # fmt: skip
            try:
                saved = self._sites.save(updated)
            except StaleWrite:
                continue
            if self._on_site_written is not None:
                self._on_site_written(site, saved)
            log.info("site %s: link %s (%s)", site_id, event.event.value, reason.value)
            return LinkReport(site_id, True, event.event.value, reason.value)
        raise UpstreamError(f"site {site_id}: written by others {_ATTEMPTS} times while its link event was kept")
