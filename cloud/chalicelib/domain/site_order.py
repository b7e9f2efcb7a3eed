"""An order of the cloud to one site's LMS, kept until the LMS reports on it (chalicelib.services.site_orders)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SiteOrder:
    site_id: str
    #: ``retire#<agent_id>`` or ``upgrade#<campaign_id>``: one order per subject (a newer one replaces it)
    order_key: str
    #: the ``SiteDown`` channel it is published on
    channel: str
    #: the message's JSON
    payload: str
    created_at: float
    #: when it was last published (0: never)
    sent_at: float
    retain_until: float
