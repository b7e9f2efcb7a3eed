"""Table ``…-alert_setting``: the tenant's alerting set-up, one item per rule, silence, notification channel and
failed webhook delivery (docs/data-model.md#alerts).

Key: ``kind`` (``rule``, ``silence``, ``channel``, ``delivery``, ``meta``, ``flaps``: the recent changes of the
cloud's site alert of a rule on a site, for its flap damping, read by key only) + ``item_id``: one Query reads all
of one kind (each kind is small: at most 30 rules, a few channels, the silences and deliveries not expired).
``data`` is the
item's JSON. Silences and dead-lettered deliveries expire through ``ttl``.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class AlertSettingModel(BaseModel, aggregate="alert_setting"):
    kind = UnicodeAttribute(hash_key=True)
    item_id = UnicodeAttribute(range_key=True)
    at = NumberAttribute(default=0)
    data = UnicodeAttribute()
    ttl = TTLAttribute(null=True)
