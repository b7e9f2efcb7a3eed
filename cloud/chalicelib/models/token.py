"""Table ``…-token``: secrets by their SHA-256 (looked up with GetItem, never scanned).

``kind`` tells them apart: ``api`` (an admin API bearer token with a role), ``lms`` (a site's API key; ``site_id``
says which) and ``enrolment`` (one-time, deleted on use; ``ttl`` ends an unused one).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE

from chalicelib.models.base import UNBOUND, BaseModel


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
    ttl = TTLAttribute(null=True)
