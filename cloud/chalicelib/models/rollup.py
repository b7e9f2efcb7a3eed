"""Table ``…-rollup``: daily counters per scope (``tenant`` or ``site#<id>``), updated with atomic ADDs —
finished commands by outcome, syncs. Key ``scope`` + ``day`` (``YYYY-MM-DD``): a range of days is one Query.
Expires through ``ttl``.

Beside a scope's days, one *ring* item (``day`` = ``ring``, which sorts after every date: a Query of days never
returns it) holds the same counters of the scope's last 8 days, so that the overview reads a week in one item
(``repositories/rollup.py``): slot ``slot<n>`` holds the day whose ordinal is ``n`` mod 8 (a map: ``day`` and
the counters), ``since`` the day of the ring's first count (the days up to it are read from the day items).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class RollupModel(BaseModel, aggregate="rollup"):
    scope = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)
    commands_succeeded = NumberAttribute(default=0)
    commands_failed = NumberAttribute(default=0)
    commands_timed_out = NumberAttribute(default=0)
    commands_expired = NumberAttribute(default=0)
    syncs = NumberAttribute(default=0)
    ttl = TTLAttribute(null=True)
    #: the ring item only (``repositories/rollup.py`` ``RING_DAYS`` slots: raw maps, updated one path at a time)
    since = UnicodeAttribute(null=True)
    slot0: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot1: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot2: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot3: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot4: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot5: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot6: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    slot7: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
