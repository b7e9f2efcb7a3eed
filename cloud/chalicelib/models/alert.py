"""Table ``…-alert``: one item per alert episode of a site (docs/data-model.md#alerts).

``data`` is the alert's :class:`shared.messages.alert.AlertRecord` as last applied (JSON); ``seq`` mirrors its
revision so that a write is conditional on it (a record applies only over a lower ``seq``). Indexes: ``by_site``
(a site's alerts newest first), ``by_tenant`` (every alert of the tenant newest first) and the sparse
``by_open_site`` (``open_site`` is set only while the alert is open: the schedule reads a site's open alerts from
it). A resolved alert expires through ``ttl`` (the history's retention).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel, global_index


class AlertModel(BaseModel, aggregate="alert"):
    alert_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    site_id = UnicodeAttribute()
    open_site = UnicodeAttribute(null=True)
    #: ``<opened_at in ms, 15 digits>#<alert_id>`` (repositories.base.sort_key): the indexes' time order
    opened = UnicodeAttribute()
    seq = NumberAttribute()
    origin = UnicodeAttribute()
    data = UnicodeAttribute()
    acked_by = UnicodeAttribute(null=True)
    acked_at = NumberAttribute(null=True)
    resolved_by = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)

    by_site = global_index("site_id", "opened")
    by_tenant = global_index("tenant", "opened")
    by_open_site = global_index("open_site", "opened")
