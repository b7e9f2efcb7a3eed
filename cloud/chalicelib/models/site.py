"""Table ``…-site``: one item per site (its LMS), kept from site heartbeats; ``by_tenant`` lists them."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import UNBOUND, BaseModel


class SitesByTenant(GlobalSecondaryIndex["SiteModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_tenant"
        projection = AllProjection()

    tenant = UnicodeAttribute(hash_key=True)
    site_id = UnicodeAttribute(range_key=True)


class SiteModel(BaseModel):
    AGGREGATE = "site"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    site_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    last_heartbeat = NumberAttribute()
    lms_version = UnicodeAttribute()
    agent_count = NumberAttribute()
    online_count = NumberAttribute()
    #: the registration (seed ``/api/lms/register``); absent on sites known only from heartbeats
    name = UnicodeAttribute(null=True)
    host = UnicodeAttribute(null=True)
    port = NumberAttribute(null=True)
    lms_uuid = UnicodeAttribute(null=True)
    #: approved | pending (an LMS registered without an enrolment token under the ``approval`` policy)
    approval = UnicodeAttribute(null=True)
    registered_at = NumberAttribute(null=True)
    #: SHA-256 of the site's API key (the key itself is an ``lms`` item of the token table)
    api_key_hash = UnicodeAttribute(null=True)
    thing_name = UnicodeAttribute(null=True)
    certificate_id = UnicodeAttribute(null=True)
    certificate_arn = UnicodeAttribute(null=True)
    revision = VersionAttribute()

    by_tenant = SitesByTenant()
