"""Fixed-window counters: ``RateLimitModel`` items, taken with one conditional ``UpdateItem``."""

from __future__ import annotations

from chalicelib.errors import StaleWrite
from chalicelib.models.rate_limit import RateLimitModel
from chalicelib.repositories.base import dynamo_errors, expiry


class RateLimitRepository:
    def take(self, bucket: str, limit: int, expires_at: float) -> bool:
        """Count one use of ``bucket`` unless it already counts ``limit``; ``False`` when it is full. Atomic: two
        concurrent callers can never both take the last place."""
        item = RateLimitModel(bucket)
        try:
            with dynamo_errors(f"rate limit {bucket}"):
                item.update(
                    actions=[RateLimitModel.used.add(1),
                             RateLimitModel.ttl.set(expiry(expires_at))],
                    condition=RateLimitModel.used.does_not_exist() | (RateLimitModel.used < limit),
                )
        except StaleWrite:
            return False
        return True
