"""Progress of the cloud's upgrade campaigns at this site, back to the cloud (docs/upgrades.md#campaigns-from-the-
cloud): :class:`~shared.messages.UpgradeCampaignReport`\\ s on ``site_up(..., UPGRADES)`` through the durable outbox.

Every :data:`PERIOD_S` (and at once after an order) it reads the campaigns started for the cloud (running, or
finished within :data:`RECENT_S`) and sends, for each, its state and the agents whose state, version or detail
changed since the last report — changed-only, at most :data:`~shared.messages.upgrades.MAX_REPORTED_AGENTS` agents a
message; when that takes several messages, a new state goes with the last one. After an LMS restart each such
campaign is reported whole once (the cloud keeps the latest per site and agent, so repeating is harmless). A
campaign the LMS refused is reported once, ``refused`` with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from edge.lms.cloud.outbox import Outbox
from edge.lms.upgrades.campaigns import CampaignRows
from shared import topics
from shared.messages import CampaignAgentReport, UpgradeCampaignReport
from shared.messages.upgrades import MAX_REPORTED_AGENTS, CampaignSiteState
from shared.names import Namespace
from shared.periodic import Periodic

log = logging.getLogger(__name__)

PERIOD_S = 1.0
#: finished campaigns are still looked at this long (an LMS restarted meanwhile reports them again)
RECENT_S = 7 * 86400.0
#: the timestamps of one report's chunks, apart (so each is later than the one before)
CHUNK_STEP_S = 1e-3


class CampaignReports:
    def __init__(self, rows: CampaignRows, outbox: Outbox, *, namespace: Namespace, site_id: str) -> None:
        self._rows = rows
        self._outbox = outbox
        self._topic = topics.site_up(namespace, site_id, topics.SiteUp.UPGRADES)
        self._lock = threading.Lock()
        #: per campaign: the state and each agent's (state, version, detail) last reported
        self._sent: dict[int, tuple[str, dict[str, tuple[Any, ...]]]] = {}
        self._periodic = Periodic("lms-upgrade-reports", self.scan, PERIOD_S)
        self.sent = 0

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def scan(self) -> int:
        """Report what changed in every recent cloud campaign; the number of messages queued."""
        return sum(self.report_now(campaign_id, cloud_id)
                   for campaign_id, cloud_id in self._rows.cloud_campaigns(time.time() - RECENT_S))  # fmt: skip

    def report_now(self, campaign_id: int, cloud_id: str) -> int:
        with self._lock:  # read and compared under one lock: an older read never follows a newer report
            campaign = self._rows.get(campaign_id)
            if campaign is None:
                return 0
            last_state, last_agents = self._sent.get(campaign_id, ("", {}))
            now = {a["agent_id"]: (a["state"], a["version"], a["detail"]) for a in campaign["agents"]}
            changed = [a for a in campaign["agents"] if last_agents.get(a["agent_id"]) != now[a["agent_id"]]]
            if campaign["state"] == last_state and not changed:
                return 0
            chunks = [changed[i:i + MAX_REPORTED_AGENTS] for i in range(0, len(changed), MAX_REPORTED_AGENTS)] or [[]]
            at = time.time()
            for n, chunk in enumerate(chunks):
                # a new state goes with the last chunk only: the cloud shows the site finished once every changed
                # agent is stored (each chunk a later timestamp: the cloud keeps the latest state). After a restart
                # (nothing sent yet) every chunk says the current state: the cloud never sees a finished one go back.
                last = n == len(chunks) - 1
                self._outbox.put(self._topic, UpgradeCampaignReport(
                    campaign_id=cloud_id, state=campaign["state"] if last else (last_state or campaign["state"]),
                    lms_campaign_id=campaign_id,
                    version=campaign["version"], detail=(campaign["detail"] or "")[:500] or None,
                    agent_count=len(campaign["agents"]), timestamp=at + n * CHUNK_STEP_S,
                    agents=[_agent(a) for a in chunk],
                ))  # fmt: skip
            self._sent[campaign_id] = (campaign["state"], now)
            self.sent += len(chunks)
        log.info("cloud campaign %s (#%d): %s reported, %d agent(s) changed", cloud_id, campaign_id,
                 campaign["state"], len(changed))  # fmt: skip
        return len(chunks)

    def refused(self, cloud_id: str, state: CampaignSiteState, detail: str, version: str | None = None) -> None:
        """A campaign this LMS never ran (refused, or cancelled before it started): reported once."""
        self._outbox.put(self._topic, UpgradeCampaignReport(
            campaign_id=cloud_id, state=state, version=version, detail=detail[:500], timestamp=time.time(),
        ))  # fmt: skip
        self.sent += 1


def _agent(row: dict[str, Any]) -> CampaignAgentReport:
    return CampaignAgentReport(
        agent_id=row["agent_id"], wave=row["wave"], state=row["state"], from_version=row["from_version"],
        version=row["version"], detail=(row["detail"] or "")[:300] or None, updated_at=row["updated_at"],
    )
