"""Table ``…-agent``: the agent registry, kept from site heartbeats.

Indexes (both queried, never scanned): ``by_site`` (site_id, agent_id) for a site's agents, and ``by_tenant``
(tenant, agent_id) — a constant partition — for the tenant-wide listing.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import UNBOUND, BaseModel


class AgentsBySite(GlobalSecondaryIndex["AgentModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_site"
        projection = AllProjection()

    site_id = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute(range_key=True)


class AgentsByTenant(GlobalSecondaryIndex["AgentModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_tenant"
        projection = AllProjection()

    tenant = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute(range_key=True)


class AgentModel(BaseModel):
    AGGREGATE = "agent"

    class Meta:
        table_name = UNBOUND
        billing_mode = PAY_PER_REQUEST_BILLING_MODE

    agent_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    site_id = UnicodeAttribute()
    status = UnicodeAttribute()
    kind = UnicodeAttribute()
    last_seen = NumberAttribute(null=True)
    version = UnicodeAttribute(null=True)
    hostname = UnicodeAttribute(null=True)
    changed_at = NumberAttribute()
    revision = VersionAttribute()

    by_site = AgentsBySite()
    by_tenant = AgentsByTenant()
