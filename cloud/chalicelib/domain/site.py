"""A site: one school's LMS and the agents behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.approval import Approval

#: ``Site.link_state`` after IoT Core's ``disconnected`` lifecycle event
LINK_DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    last_heartbeat: float
    lms_version: str
    agent_count: int = 0
    online_count: int = 0
    # registration (seed ``POST /api/lms/register`` or enrolment); absent for a site known only from IoT
    name: str | None = None
    host: str | None = None
    port: int | None = None
    lms_uuid: str | None = None
    approval: Approval = Approval.APPROVED
    registered_at: float | None = None
    api_key_hash: str | None = None
    thing_name: str | None = None
    certificate_id: str | None = None
    certificate_arn: str | None = None
    revision: int | None = None
    lms_config_version: str | None = None
    #: the site's certificates within their warning period, from its heartbeats (None: not reported)
    certificates_expiring: list[str] | None = None
    #: when the site was retired (its identity revoked, its agents retired; the record kept, refused from then on)
    retired_at: float | None = None
    #: the LMS's cloud link as IoT Core's lifecycle events last told it (``connected``/``disconnected``; None: no
    #: event seen), when, and why (docs/alerts.md#presence-per-hop)
    link_state: str | None = None
    link_changed_at: float | None = None
    link_reason: str | None = None
    #: the ``versionNumber`` of that event (orders events of the same millisecond)
    link_version: int | None = None
    #: what the intake knows without reading (docs/data-model.md#cloud-cost): the digest of the agents the site's
    #: last full heartbeat listed, once the registry held exactly that (None: unknown — the next full heartbeat
    #: reads the site's agents); cleared by every other change to the site's agents
    agents_digest: str | None = None
    #: when a heartbeat last found no order waiting for the site (None: unknown, or an order was given since)
    orders_checked_at: float | None = None

    @property
    def link_down_since_heartbeat(self) -> bool:
        """IoT Core's last lifecycle event of the site's link is a disconnection no older than its stored heartbeat
        (the link shows down until a heartbeat newer than it is stored)."""
        changed = self.link_changed_at
        return self.link_state == LINK_DISCONNECTED and changed is not None and changed >= self.last_heartbeat

    def to_dict(self) -> dict[str, Any]:
        return {
            "site_id": self.site_id,
            "lms_id": self.site_id,
            "lms_uuid": self.lms_uuid,
            "name": self.name,
            "host": self.host,
            "port": self.port,
            "approval": self.approval.value,
            "last_heartbeat": self.last_heartbeat,
            "lms_version": self.lms_version,
            "version": self.lms_version,
            "lms_config_version": self.lms_config_version,
            "certificates_expiring": self.certificates_expiring,
            "agent_count": self.agent_count,
            "client_count": self.agent_count,
            "online_count": self.online_count,
            "registered_at": self.registered_at,
            "thing_name": self.thing_name,
            "certificate_arn": self.certificate_arn,
            "retired_at": self.retired_at,
        }
