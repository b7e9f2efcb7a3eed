"""Table ``…-event``: agents' events (camera frozen, disk filling…), one item each, kept ``event_retention``.

Key: ``agent_id`` + ``at_id`` (``<epoch ms, 15 digits>#<random>``): an agent's events newest first are one Query.
Index ``by_day`` (day, at_id): the tenant's events of one UTC day.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import UNBOUND, BaseModel


class EventsByDay(GlobalSecondaryIndex["EventModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class EventModel(BaseModel):
    AGGREGATE = "event"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

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

    by_day = EventsByDay()
