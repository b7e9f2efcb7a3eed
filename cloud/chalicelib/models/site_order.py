"""Table ``…-site_order``: the cloud's orders to a site's LMS that must reach it even if it is offline when they are
given (an agent's retirement, an upgrade campaign's start or cancel). Kept until the LMS reports on the order, sent
again after its full site heartbeats meanwhile (docs/protocol.md, "Orders that wait for an offline LMS").

Key: ``site_id`` + ``order_key`` (``retire#<agent_id>``, ``upgrade#<campaign_id>``): one Query per site. ``payload`` is
the message's JSON; ``sent_at`` when it was last published. Expires through ``ttl``.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class SiteOrderModel(BaseModel, aggregate="site_order"):
    site_id = UnicodeAttribute(hash_key=True)
    order_key = UnicodeAttribute(range_key=True)
    channel = UnicodeAttribute()
    payload = UnicodeAttribute()
    created_at = NumberAttribute()
    sent_at = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)
