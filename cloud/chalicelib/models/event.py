"""Table ``…-event``: agents' events (camera frozen, disk filling…), one item each, kept ``event_retention``.

Key: ``agent_id`` + ``at_id`` (``<epoch ms, 15 digits>#<random>``): an agent's events newest first are one Query.
Index ``by_day`` (day, at_id): the tenant's events of one UTC day.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, global_index


class EventModel(BaseModel, aggregate="event"):
    agent_id = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)
    day = UnicodeAttribute()
    site_id = UnicodeAttribute()
    at = NumberAttribute()
    kind = UnicodeAttribute()
    severity = UnicodeAttribute()
    message = UnicodeAttribute(default="")
    #: JSON text
    data = UnicodeAttribute(default="{}")
    ttl = TTLAttribute()

    by_day: GlobalSecondaryIndex[EventModel] = global_index("day", "at_id")
