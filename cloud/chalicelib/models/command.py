"""Table ``…-command``: one item per command, with the per-agent outcomes in a map.

Index ``by_open`` (open_tenant, expires_at) is sparse: ``open_tenant`` is set only while the command is not
finished, so the sweeper finds overdue commands with one Query (``expires_at < now``).

Table ``…-agent_command``: the per-agent history index — one item per (agent, command), sort key
``<created_at ms, 15 digits>#<command_id>``, so an agent's commands newest first are one Query.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, global_index


class CommandModel(BaseModel, aggregate="command"):
    command_id = UnicodeAttribute(hash_key=True)
    command = UnicodeAttribute()
    params = JSONAttribute()
    timeout_s = NumberAttribute()
    targets = ListAttribute(of=UnicodeAttribute)
    site_ids = ListAttribute(of=UnicodeAttribute)
    status = UnicodeAttribute()
    #: agent_id -> {site_id, status, success, data (JSON text), error, error_code, updated_at, data_truncated,
    #: hops: {hop: ms after created_at}} (the hops in ms from ``created_at``: small numbers, see docs/api.md); the
    #: empty ones (null, ``data_truncated`` false) are left out: every write is billed on the whole item
    results: MapAttribute[str, Any] = MapAttribute()  # type: ignore[no-untyped-call]
    error = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute()
    #: the tenant while the command is not finished, else absent (sparse index ``by_open``)
    open_tenant = UnicodeAttribute(null=True)
    revision = VersionAttribute()
    #: site_id -> ms after ``created_at`` when the cloud published the site's message (absent: not yet / failed)
    sent_at: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]

    by_open: GlobalSecondaryIndex[CommandModel] = global_index("open_tenant", "expires_at", NumberAttribute)


class AgentCommandModel(BaseModel, aggregate="agent_command"):
    agent_id = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)
    command_id = UnicodeAttribute()
    command = UnicodeAttribute()
    created_at = NumberAttribute()
    ttl = TTLAttribute()
