"""Daily counters (``RollupModel``): atomic ADD updates, read by one Query per scope."""

from __future__ import annotations

from chalicelib.models.rollup import RollupModel
from chalicelib.repositories.base import dynamo_errors, expiry

COUNTERS = ("commands_succeeded", "commands_failed", "commands_timed_out", "commands_expired", "syncs")


class RollupRepository:
    def add(self, scope: str, day: str, counts: dict[str, int], retain_until: float) -> None:
        actions = [getattr(RollupModel, name).add(n) for name, n in sorted(counts.items()) if n]
        if not actions:
            return
        actions.append(RollupModel.ttl.set(expiry(retain_until)))
        with dynamo_errors(f"count {scope}"):
            RollupModel(scope, day).update(actions=actions)

    def between(self, scope: str, first_day: str, last_day: str) -> dict[str, int]:
        """The counters of ``scope`` summed over the days ``first_day..last_day`` (inclusive)."""
        totals = dict.fromkeys(COUNTERS, 0)
        for counts in self.per_day(scope, first_day, last_day).values():
            for name in COUNTERS:
                totals[name] += counts[name]
        return totals

    def per_day(self, scope: str, first_day: str, last_day: str) -> dict[str, dict[str, int]]:
        """The counters of ``scope`` of each day ``first_day..last_day`` (inclusive) that has any (one Query)."""
        with dynamo_errors(f"read counters of {scope}"):
            return {item.day: {name: int(getattr(item, name) or 0) for name in COUNTERS}
                    for item in RollupModel.query(scope, RollupModel.day.between(first_day, last_day))}
