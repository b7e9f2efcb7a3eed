"""Table ``…-agent_snapshot``: the latest snapshot of one kind of data of one agent, as its site's LMS sent it.

Key: ``agent_id`` + ``kind`` (``settings``, ``classtop``, ``cctv_config``). ``epoch`` + ``version`` order the
writes (the greatest wins, docs/protocol.md "Snapshots"); ``body`` is the JSON text of the data (at most
128 KB: it arrived in one IoT message).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class AgentSnapshotModel(BaseModel, aggregate="agent_snapshot"):
    agent_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(range_key=True)
    site_id = UnicodeAttribute()
    epoch = UnicodeAttribute()
    version = NumberAttribute()
    hash = UnicodeAttribute()
    body = UnicodeAttribute()
    updated_at = NumberAttribute()
    received_at = NumberAttribute()
