"""Daily counters (``RollupModel``): atomic ADD updates, read by one Query per scope; and each scope's *ring* of its
last :data:`RING_DAYS` days, read in one item (the overview's day and week, whatever the scope's history).

The ring is one item per scope (``day`` = :data:`RING`). Slot ``n`` holds the day whose ordinal is ``n`` mod
:data:`RING_DAYS`: ``{"day": "YYYY-MM-DD", <counter>: <count>, ...}``. A count reaches its day's slot through one of
two conditional UpdateItems, never a read-modify-write:

* the slot holds the day: ``SET slotN.<counter> = if_not_exists(slotN.<counter>, 0) + :n`` (condition
  ``slotN.day = :day``), atomic like the day item's ADD;
* the slot is empty or holds an older day (at least :data:`RING_DAYS` days before): the day's first count replaces
  it whole (condition ``attribute_not_exists(slotN) OR slotN.day < :day``), and sets ``since`` if it is absent.

Concurrent writers: when both conditions fail, another writer started the day's slot between the two (the next add
succeeds), or the slot holds a newer day (this writer's day is :data:`RING_DAYS` days behind: outside every window
the ring serves, so only the day item counts it; a consistent read tells the two apart). No count is lost to a
concurrent writer and none is counted twice. The day item is written first: a failure between the two writes (the
function dying) leaves the count in the day item only, as a failure of the day item's write loses it there.

Reading (:meth:`RollupRepository.recent`): the ring holds every count of the days after ``since``. A ring starts with
``since`` = its first day: the day items may hold counts of that day and the days before, made before the ring
existed (a tenant's history from before this release). When the first count of that day finds no count in the week
before it (a new tenant or site), ``since`` moves back 8 days. The days up to ``since`` come from the day items: one
Query, only while ``since`` is inside the window (for a week after a release, for a scope with history).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chalicelib.errors import StaleWrite
from chalicelib.models.rollup import RollupModel
from chalicelib.repositories.base import dynamo_errors, expiry, read_item

log = logging.getLogger(__name__)

COUNTERS = ("commands_succeeded", "commands_failed", "commands_timed_out", "commands_expired", "syncs")
#: the ring item's ``day``: it sorts after every ``YYYY-MM-DD``, so a Query of days never returns it
RING = "ring"
#: days the ring holds: the longest window it serves (:data:`RING_WINDOW`) and one more, for a writer whose clock is
#: a day ahead of the reader's (it starts the reader's tomorrow in the slot of the reader's eighth day back)
RING_DAYS = 8
RING_WINDOW = RING_DAYS - 1
#: rounds of (add, start the slot) before a count of the ring is given up as lost (each round but the last lost a race)
_ATTEMPTS = 4

PerDay = dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class Ring:
    """A scope's ring as stored: the day of its first count, and the counters of each day its slots hold."""

    since: str
    days: PerDay


def _slot_name(day: str) -> str:
    return f"slot{date.fromisoformat(day).toordinal() % RING_DAYS}"


def _shifted(day: str, days: int) -> str:
    return date.fromordinal(date.fromisoformat(day).toordinal() + days).isoformat()


def _counts(values: dict[str, Any]) -> dict[str, int]:
    return {name: int(values.get(name) or 0) for name in COUNTERS}


class RollupRepository:
    def add(self, scope: str, day: str, counts: dict[str, int], retain_until: float) -> None:
        """Add ``counts`` to ``scope``'s ``day``: its day item, then its ring."""
        counts = {name: n for name, n in sorted(counts.items()) if n}
        if not counts:
            return
        ttl = expiry(retain_until)
        actions = [getattr(RollupModel, name).add(n) for name, n in counts.items()]
        actions.append(RollupModel.ttl.set(ttl))
        stored = RollupModel(scope, day)
        with dynamo_errors(f"count {scope}"):
            stored.update(actions=actions)  # PynamoDB reads the day's counters back (ALL_NEW)
        ring = self._add_to_ring(scope, day, counts, ttl)
        first = all(int(getattr(stored, name) or 0) == counts.get(name, 0) for name in COUNTERS)
        if first and ring is not None and ring.since == day:
            self._claim_the_week(ring, day)

    def _claim_the_week(self, ring: RollupModel, day: str) -> None:
        """The day's first count of a scope whose ring was started today: if the scope counted nothing in the week
        before either, the ring holds every count of its window, and ``since`` moves back :data:`RING_DAYS` days (a
        new tenant or site never reads a day item). Otherwise (a history from before the ring) the ring's first day
        is read from the day items until it leaves the window."""
        if not self.per_day(ring.scope, _shifted(day, -RING_WINDOW), _shifted(day, -1)):
            _update(ring, [RollupModel.since.set(_shifted(day, -RING_DAYS))], RollupModel.since == day, ring.scope)

    def _add_to_ring(self, scope: str, day: str, counts: dict[str, int], ttl: datetime) -> RollupModel | None:
        """Add ``counts`` to ``day``'s slot of the ring; the ring as stored after it, or ``None`` when the day is
        past the ring (only its day item counts it)."""
        name = _slot_name(day)
        slot = getattr(RollupModel, name)
        item = RollupModel(scope, RING)
        added = [slot[c].set((slot[c] | 0) + n) for c, n in counts.items()]
        started = {"day": day, **dict.fromkeys(COUNTERS, 0), **counts}
        for _ in range(_ATTEMPTS):
            if _update(item, [*added, RollupModel.ttl.set(ttl)], slot["day"] == day, scope):
                return item
            start = [slot.set(started), RollupModel.since.set(RollupModel.since | day), RollupModel.ttl.set(ttl)]
            if _update(item, start, slot.does_not_exist() | (slot["day"] < day), scope):
                return item
            stored = read_item(RollupModel, scope, RING, what=f"read the ring of {scope}", consistent=True)
            held = getattr(stored, name, None) if stored is not None else None
            if held is not None and str(held.attribute_values.get("day", "")) > day:
                log.warning(
                    "ring of %s: %s is past (its slot holds %s); counted in the day item only",
                    scope,
                    day,
                    held.attribute_values.get("day"),
                )
                return None
        raise StaleWrite(f"count {scope} in its ring: the slot of {day} kept changing")

    def between(self, scope: str, first_day: str, last_day: str) -> dict[str, int]:
        """The counters of ``scope`` summed over the days ``first_day..last_day`` (inclusive)."""
        totals = dict.fromkeys(COUNTERS, 0)
        for counts in self.per_day(scope, first_day, last_day).values():
            for name in COUNTERS:
                totals[name] += counts[name]
        return totals

    def per_day(self, scope: str, first_day: str, last_day: str) -> PerDay:
        """The counters of ``scope`` of each day ``first_day..last_day`` (inclusive) that has any (one Query)."""
        with dynamo_errors(f"read counters of {scope}"):
            return {
                item.day: _counts(item.attribute_values)
                for item in RollupModel.query(scope, RollupModel.day.between(first_day, last_day))
            }

    def recent(self, scopes: list[str], first_day: str, last_day: str) -> list[PerDay]:
        """Per scope, the counters of each day ``first_day..last_day`` that has any. A window of at most
        :data:`RING_WINDOW` days is read from the scopes' rings (one BatchGetItem), plus the day items up to a ring's
        ``since`` where that is inside the window; a longer one from the day items (one Query per scope)."""
        span = (date.fromisoformat(last_day) - date.fromisoformat(first_day)).days + 1
        if span > RING_WINDOW:
            return [self.per_day(scope, first_day, last_day) for scope in scopes]
        rings = self.rings(scopes)
        out: list[PerDay] = []
        for scope in scopes:
            ring = rings.get(scope)
            if ring is None:  # nothing counted since this release (or ever): the day items, if any
                out.append(self.per_day(scope, first_day, last_day))
                continue
            days = {day: c for day, c in ring.days.items() if ring.since < day and first_day <= day <= last_day}
            if ring.since >= first_day:  # the ring's first day (and any before it) from the day items
                days.update(self.per_day(scope, first_day, min(last_day, ring.since)))
            out.append(days)
        return out

    def rings(self, scopes: list[str]) -> dict[str, Ring]:
        """The rings of ``scopes`` that exist (one BatchGetItem, eventually consistent)."""
        found: dict[str, Ring] = {}
        with dynamo_errors("read the rings of counters"):
            for item in RollupModel.batch_get([(scope, RING) for scope in dict.fromkeys(scopes)]):
                days: PerDay = {}
                for n in range(RING_DAYS):
                    held = getattr(item, f"slot{n}")
                    if held is not None and held.attribute_values.get("day"):
                        days[str(held.attribute_values["day"])] = _counts(held.attribute_values)
                found[item.scope] = Ring(item.since or "", days)
        return found


def _update(item: RollupModel, actions: list[Any], condition: Any, scope: str) -> bool:
    """One conditional UpdateItem of ``item``; ``False`` when its condition failed."""
    try:
        with dynamo_errors(f"count {scope} in its ring"):
            item.update(actions=actions, condition=condition)
    except StaleWrite:
        return False
    return True
