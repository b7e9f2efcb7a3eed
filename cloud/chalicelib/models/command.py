"""Table ``…-command``: one item per command, with the per-agent outcomes in a map."""

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
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE

from chalicelib.models.base import UNBOUND, BaseModel


class CommandModel(BaseModel):
    AGGREGATE = "command"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    command_id = UnicodeAttribute(hash_key=True)
    command = UnicodeAttribute()
    params = JSONAttribute()
    timeout_s = NumberAttribute()
    targets = ListAttribute(of=UnicodeAttribute)
    site_ids = ListAttribute(of=UnicodeAttribute)
    status = UnicodeAttribute()
    #: agent_id -> {site_id, status, success, data (JSON text), error, error_code, updated_at, data_truncated}
    results: MapAttribute[str, Any] = MapAttribute()  # type: ignore[no-untyped-call]
    error = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = TTLAttribute()
    revision = VersionAttribute()
