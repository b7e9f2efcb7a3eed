"""Table ``…-client``: unchanged ClassTop desktop clients that sync with the cloud directly (no credentials).

Indexes: ``by_tenant`` (tenant, client_uuid) lists them; ``by_pending`` (pending_tenant, client_uuid) is sparse —
``pending_tenant`` is set only while a client waits for an admin's approval — so the approval queue is one Query.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, global_index


class ClassTopClientModel(BaseModel, aggregate="client"):
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

    by_tenant: GlobalSecondaryIndex[ClassTopClientModel] = global_index("tenant", "client_uuid")
    by_pending: GlobalSecondaryIndex[ClassTopClientModel] = global_index("pending_tenant", "client_uuid")
