"""Table ``…-agent``: the agent registry, kept from site heartbeats.

Indexes (all queried, never scanned): ``by_site`` (site_id, agent_id) for a site's agents, ``by_tenant``
(tenant, agent_id) — a constant partition — for the tenant-wide listing, ``by_group`` (group, agent_id; sparse:
only grouped agents) and ``by_pending`` (pending_tenant, agent_id; sparse: only agents awaiting approval).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, VersionAttribute
from pynamodb.indexes import GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, global_index


class AgentModel(BaseModel, aggregate="agent"):
    agent_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    site_id = UnicodeAttribute()
    status = UnicodeAttribute()
    kind = UnicodeAttribute()
    last_seen = NumberAttribute(null=True)
    version = UnicodeAttribute(null=True)
    hostname = UnicodeAttribute(null=True)
    #: the agent's configuration version, as its LMS reports it
    config_version = UnicodeAttribute(null=True)
    changed_at = NumberAttribute()
    group = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)
    #: approved | pending | rejected (absent: approved)
    approval = UnicodeAttribute(null=True)
    #: the tenant while ``approval == "pending"``, else absent (sparse index)
    pending_tenant = UnicodeAttribute(null=True)
    revision = VersionAttribute()

    by_site: GlobalSecondaryIndex[AgentModel] = global_index("site_id", "agent_id")
    by_tenant: GlobalSecondaryIndex[AgentModel] = global_index("tenant", "agent_id")
    by_group: GlobalSecondaryIndex[AgentModel] = global_index("group", "agent_id")
    by_pending: GlobalSecondaryIndex[AgentModel] = global_index("pending_tenant", "agent_id")
