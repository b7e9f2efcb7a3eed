"""Table ``…-token``: secrets by their SHA-256 (looked up with GetItem, never scanned).

``kind`` tells them apart: ``api`` (an API bearer token with a role), ``lms`` (a site's API key; ``site_id``
says which) and ``enrolment`` (one-time, deleted on use; ``ttl`` ends an unused one). An ``api`` token also has a
``token_id`` (random, not the secret) and the sparse index ``by_kind`` (``kind``, ``token_id``) lists API tokens
and finds one by id (list, revoke). Its ``ttl`` is its expiry: authentication refuses it from that second on, and
DynamoDB deletes the item within days.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, global_index


class TokenModel(BaseModel, aggregate="token"):
    token_hash = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    #: absent = every site of the tenant (a DynamoDB set cannot be empty)
    site_ids = UnicodeSetAttribute(null=True)
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    #: api | lms | enrolment (absent on tokens written before kinds existed: api)
    kind = UnicodeAttribute(null=True)
    #: the site of an ``lms`` key, or the site an ``enrolment`` token is bound to
    site_id = UnicodeAttribute(null=True)
    #: an ``api`` token's id (absent on site keys and enrolment tokens, and on API tokens made before ids)
    token_id = UnicodeAttribute(null=True)
    ttl = TTLAttribute(null=True)

    by_kind: GlobalSecondaryIndex[TokenModel] = global_index("kind", "token_id")
