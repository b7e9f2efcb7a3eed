"""Table ``…-snapshot``: the latest full snapshot of one kind of data of one owner (a ClassTop client or an agent).

Key: ``owner`` (client uuid / agent id) + ``kind`` (``courses``, ``schedule``, ``settings``, ``cctv``). ``body`` is
the JSON text (at most ``CLASSTOP_MAX_SNAPSHOT_BYTES``, well under DynamoDB's 400 KB item limit); ``version``
counts the uploads (last writer wins, see docs/data-model.md).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class SnapshotModel(BaseModel, aggregate="snapshot"):
    owner = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(range_key=True)
    body = UnicodeAttribute()
    size = NumberAttribute()
    version = NumberAttribute()
    updated_at = NumberAttribute()
