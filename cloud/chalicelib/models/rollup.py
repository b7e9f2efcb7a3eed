"""Table ``…-rollup``: daily counters per scope (``tenant`` or ``site#<id>``), updated with atomic ADDs —
finished commands by outcome, syncs. Key ``scope`` + ``day`` (``YYYY-MM-DD``): a range of days is one Query.
Expires through ``ttl``."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

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
