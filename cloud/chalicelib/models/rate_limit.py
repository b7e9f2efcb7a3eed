"""Table ``…-rate_limit``: fixed-window counters of callers without credentials (ClassTop ``/api/sync``).

One item per (scope, subject, window): ``bucket`` = ``<scope>#<subject>#<window start>``, ``used`` counts what was
taken in that window, and ``ttl`` removes the item once its window is over (DynamoDB TTL deletes are free).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel, table_meta


class RateLimitModel(BaseModel):
    AGGREGATE = "rate_limit"
    Meta = table_meta()

    bucket = UnicodeAttribute(hash_key=True)
    used = NumberAttribute(default=0)
    ttl = TTLAttribute()
