"""Table ``…-rate_limit``: fixed-window counters of callers without credentials (ClassTop ``/api/sync``).

One item per (scope, subject, window): ``bucket`` = ``<scope>#<subject>#<window start>``, ``used`` counts what was
taken in that window, and ``ttl`` removes the item once its window is over (DynamoDB TTL deletes are free).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class RateLimitModel(BaseModel, aggregate="rate_limit"):
    bucket = UnicodeAttribute(hash_key=True)
    used = NumberAttribute(default=0)
    ttl = TTLAttribute()
