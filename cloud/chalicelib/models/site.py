"""Table ``…-site``: one item per site (its LMS), kept from site heartbeats; ``by_tenant_keys`` lists them.

The index projects the keys alone: every full heartbeat rewrites the item (``last_heartbeat``, ``revision``), and an
index projecting those would be written with it (a second write unit a minute per site). A write that changes no
projected attribute writes the table alone, so the listing reads the items themselves (``SiteRepository.page``:
the index's keys, then one BatchGetItem) and no reader can get a site without its heartbeat.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.models.base import BaseModel, global_index


class SiteModel(BaseModel, aggregate="site"):
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
    #: the configuration version the LMS reports in its heartbeats (``cloud:<n>`` / ``local:<hash>``)
    lms_config_version = UnicodeAttribute(null=True)
    #: the site's certificates about to lapse, as its heartbeats report them (issue 19)
    certificates_expiring = ListAttribute(of=UnicodeAttribute, null=True)
    #: when the site was retired (``POST /api/lms/{site_id}/retire``): approval ``rejected``, no identity left
    retired_at = NumberAttribute(null=True)
    #: the cloud link as IoT Core's lifecycle events tell it (docs/alerts.md#presence-per-hop)
    link_state = UnicodeAttribute(null=True)
    link_changed_at = NumberAttribute(null=True)
    link_reason = UnicodeAttribute(null=True)
    link_version = NumberAttribute(null=True)
    #: what the heartbeat intake may skip reading (chalicelib.domain.site.Site: its agents, its waiting orders)
    agents_digest = UnicodeAttribute(null=True)
    orders_checked_at = NumberAttribute(null=True)
    #: the full heartbeat period the site's LMS states (``SiteHeartbeat.full_period_s``; absent: it states none)
    full_period_s = NumberAttribute(null=True)
    revision = VersionAttribute()

    by_tenant_keys: GlobalSecondaryIndex[SiteModel] = global_index("tenant", "site_id",
                                                                   projection=KeysOnlyProjection())

    #: the index ``by_tenant_keys`` replaces (it projected every attribute), kept in the template for one release:
    #: CloudFormation creates or deletes one index of a table per update, never both (docs/deploy.md); read only
    #: while the new one is missing or backfilling (``SiteRepository.page``)
    RETIRING_INDEXES: ClassVar[dict[str, tuple[str, str]]] = {"by_tenant": ("tenant", "site_id")}
