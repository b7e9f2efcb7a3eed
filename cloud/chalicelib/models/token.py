"""Table ``…-token``: API tokens by the SHA-256 of their secret (looked up with GetItem, never scanned)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
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
