"""Table ``…-audit``: one item per mutating API call (who, what, target, result).

Key design for time queries without scans: the partition is the UTC day (``day`` = ``YYYY-MM-DD``) and the sort
key ``at_id`` = ``<epoch ms, 15 digits>#<random>``, so "entries between t1 and t2" is one Query per day with
``at_id BETWEEN``. Entries expire through the ``ttl`` attribute.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class AuditModel(BaseModel, aggregate="audit"):
    day = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)
    at = NumberAttribute()
    actor = UnicodeAttribute()
    role = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    status = NumberAttribute()
    result = UnicodeAttribute()
    ttl = TTLAttribute()
