"""Table ``…-log_request``: one item per log request (an agent's or an LMS's logs to the media bucket), kept
``command_retention`` (docs/logs.md).

Key: ``request_id`` (for an agent's logs, also the id of the ``get_logs`` command that carries the request).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class LogRequestModel(BaseModel, aggregate="log_request"):
    request_id = UnicodeAttribute(hash_key=True)
    site_id = UnicodeAttribute()
    agent_id = UnicodeAttribute(null=True)
    key = UnicodeAttribute()
    since = NumberAttribute(null=True)
    until = NumberAttribute(null=True)
    level = UnicodeAttribute(null=True)
    max_bytes = NumberAttribute()
    created_by = UnicodeAttribute()
    created_at = NumberAttribute()
    upload_expires_at = NumberAttribute()
    ttl = TTLAttribute()
