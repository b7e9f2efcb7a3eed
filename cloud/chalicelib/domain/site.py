"""A site: one school's LMS and the agents behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.approval import Approval
from shared.messages.checks import FULL_PERIOD_MAX_S

#: ``Site.link_state`` after IoT Core's ``disconnected`` lifecycle event
LINK_DISCONNECTED = "disconnected"
#: the overview's and ``/api/stats``' silence for a site whose LMS states no full heartbeat period (older LMSs, which
#: send one every 60 s: one lost, and the next late, is no outage); presence per hop and the alerts wait
#: ``CLASSTOP_SITE_STALE_S`` (180 s) instead
STALE_AFTER_S = 150.0
#: a site whose LMS states its full heartbeat period is silent after this many periods without a heartbeat (the stored
#: stamp lags by up to one period: one lost heartbeat, and the next a little late, is no outage); never sooner than
#: the cloud's own figure for an LMS that states none
STALE_PERIODS = 2.5


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
    #: the full heartbeat period its LMS states in its heartbeats (None: an LMS that states none)
    full_period_s: float | None = None

    def stale_after(self, floor_s: float = STALE_AFTER_S) -> float:
        """How long after its stored last heartbeat the site counts as silent: ``floor_s`` (the cloud's figure, all
        an LMS that states no period gets), or :data:`STALE_PERIODS` of the period its LMS states when longer (at
        most :data:`FULL_PERIOD_MAX_S`'s: the message's bound, applied again to what is stored)."""
        if self.full_period_s is None:
            return floor_s
        return max(floor_s, STALE_PERIODS * min(float(self.full_period_s), FULL_PERIOD_MAX_S))

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
            "full_period_s": self.full_period_s,
            "stale_after_s": self.stale_after(),
        }
