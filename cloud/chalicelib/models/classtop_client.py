"""Table ``…-client``: unchanged ClassTop desktop clients that sync with the cloud directly (no credentials).

Indexes: ``by_tenant`` (tenant, client_uuid) lists them; ``by_pending`` (pending_tenant, client_uuid) is sparse —
``pending_tenant`` is set only while a client waits for an admin's approval — so the approval queue is one Query.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import UNBOUND, BaseModel


class ClassTopClientsByTenant(GlobalSecondaryIndex["ClassTopClientModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_tenant"
        projection = AllProjection()

    tenant = UnicodeAttribute(hash_key=True)
    client_uuid = UnicodeAttribute(range_key=True)


class PendingClassTopClients(GlobalSecondaryIndex["ClassTopClientModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_pending"
        projection = AllProjection()

    pending_tenant = UnicodeAttribute(hash_key=True)
    client_uuid = UnicodeAttribute(range_key=True)


class ClassTopClientModel(BaseModel):
    AGGREGATE = "client"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    client_uuid = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    name = UnicodeAttribute(default="")
    api_url = UnicodeAttribute(default="")
    #: approved | pending | rejected
    approval = UnicodeAttribute()
    #: the tenant while ``approval == "pending"``, else absent (sparse index)
    pending_tenant = UnicodeAttribute(null=True)
    registered_at = NumberAttribute()
    last_sync_at = NumberAttribute(null=True)
    #: SHA-256 of the last uploaded snapshot: an unchanged upload writes nothing (see ClassTopClientService.sync)
    digest = UnicodeAttribute(null=True)
    course_count = NumberAttribute(default=0)
    entry_count = NumberAttribute(default=0)
    revision = VersionAttribute()

    by_tenant = ClassTopClientsByTenant()
    by_pending = PendingClassTopClients()
