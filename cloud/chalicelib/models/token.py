"""Table ``…-token``: secrets by their SHA-256 (looked up with GetItem, never scanned).

``kind`` tells them apart: ``api`` (an API bearer token with a role), ``lms`` (a site's API key; ``site_id``
says which) and ``enrolment`` (one-time, deleted on use; ``ttl`` ends an unused one). An ``api`` token also has a
``token_id`` (random, not the secret) and the sparse index ``by_kind`` (``kind``, ``token_id``) lists API tokens
and finds one by id (list, revoke). Its ``ttl`` is its expiry: authentication refuses it from that second on, and
DynamoDB deletes the item within days.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import UNBOUND, BaseModel


class TokensByKind(GlobalSecondaryIndex["TokenModel"]):  # type: ignore[no-untyped-call]
    """API tokens by id (only items with a ``token_id`` are in it: site keys and enrolment tokens are not)."""

    class Meta:
        index_name = "by_kind"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    token_id = UnicodeAttribute(range_key=True)


class TokenModel(BaseModel):
    AGGREGATE = "token"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

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

    by_kind = TokensByKind()
