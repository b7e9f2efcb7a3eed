"""Table ``…-agent``: the agent registry, kept from site heartbeats.

Indexes (all queried, never scanned): ``by_site`` (site_id, agent_id) for a site's agents, ``by_tenant``
(tenant, agent_id) — a constant partition — for the tenant-wide listing, ``by_group`` (group, agent_id; sparse:
only grouped agents) and ``by_pending`` (pending_tenant, agent_id; sparse: only agents awaiting approval).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, VersionAttribute
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


class AgentsByGroup(GlobalSecondaryIndex["AgentModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_group"
        projection = AllProjection()

    group = UnicodeAttribute(hash_key=True)
    agent_id = UnicodeAttribute(range_key=True)


class PendingAgents(GlobalSecondaryIndex["AgentModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_pending"
        projection = AllProjection()

    pending_tenant = UnicodeAttribute(hash_key=True)
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
    group = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)
    #: approved | pending | rejected (absent: approved)
    approval = UnicodeAttribute(null=True)
    #: the tenant while ``approval == "pending"``, else absent (sparse index)
    pending_tenant = UnicodeAttribute(null=True)
    revision = VersionAttribute()

    by_site = AgentsBySite()
    by_tenant = AgentsByTenant()
    by_group = AgentsByGroup()
    by_pending = PendingAgents()
