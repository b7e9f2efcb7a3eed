"""Table ``…-upgrade_campaign``: agent upgrade campaigns ordered from the cloud (docs/upgrades.md).

Key: ``campaign_id`` + ``item``: ``campaign`` (the campaign itself), ``site#<site_id>`` (one site's state as its LMS
reports it), ``agent#<site_id>#<agent_id>`` (one agent's): one Query reads a campaign whole. The campaign items
carry ``listed`` = ``campaign`` for the index ``by_created`` (campaigns newest first; sparse: only they have it).
``data`` is the item's JSON (the campaign's package and plan, a site's or an agent's state); ``at`` orders a site's
and an agent's reports (a later report wins).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel, global_index

CAMPAIGN_ITEM = "campaign"


class UpgradeCampaignModel(BaseModel, aggregate="upgrade_campaign"):
    campaign_id = UnicodeAttribute(hash_key=True)
    item = UnicodeAttribute(range_key=True)
    listed = UnicodeAttribute(null=True)
    created_at = NumberAttribute(null=True)
    at = NumberAttribute(default=0)
    data = UnicodeAttribute()

    by_created = global_index("listed", "created_at", NumberAttribute)
