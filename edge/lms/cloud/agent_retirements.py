"""Retirements between the LMS and the cloud (docs/operations.md#an-agent).

* **Ordered by the cloud**: an :class:`~shared.messages.AgentRetire` on ``site_down(..., RETIRE)`` (sent by
  ``POST /api/agents/{id}/retire`` in the cloud, and again after this site's full heartbeats until the LMS reports
  it). The LMS retires the agent as its own ``POST /api/clients/{uuid}/retire`` does (:mod:`edge.lms.agents.
  retirement`), off the link's thread (the broker round trips block), and audits it (``agent:retire``, actor
  ``cloud:<who>``). An agent retired already, or unknown here, is reported retired too (so the cloud stops
  sending the order); a bad message is logged and dropped.
* **Reported to the cloud**: every retirement on this LMS (its API, its CLI, a cloud order) goes into the durable
  outbox as an :class:`~shared.messages.AgentsRetired` on ``site_up(..., RETIRED)``, so a retirement done while the
  cloud is unreachable reaches it when the link is back; the cloud then removes its records of the agent.
"""

from __future__ import annotations

import logging
import threading

from edge.lms.agents.retirement import AgentRetirement, Retirement, RetirementError
from edge.lms.auth import Audit
from edge.lms.cloud.outbox import Outbox
from shared import topics
from shared.messages import AgentRetire, AgentsRetired, RetiredAgentEntry
from shared.messages.base import decode_or_none
from shared.names import Namespace

log = logging.getLogger(__name__)


class RetirementReports:
    """:meth:`report` queues one retirement for the cloud (the :class:`AgentRetirement` listener)."""

    def __init__(self, outbox: Outbox, *, namespace: Namespace, site_id: str) -> None:
        self._outbox = outbox
        self._topic = topics.site_up(namespace, site_id, topics.SiteUp.RETIRED)

    def report(self, retirement: Retirement, by: str | None, reason: str | None) -> None:
        self.report_id(retirement.agent_id, retirement.retired_at, by, reason)

    def report_id(self, agent_id: str, retired_at: float, by: str | None, reason: str | None) -> None:
        entry = RetiredAgentEntry(agent_id=agent_id, retired_at=retired_at, by=(by or "")[:200] or None,
                                  reason=(reason or "")[:200] or None)  # fmt: skip
        self._outbox.put(self._topic, AgentsRetired(agents=[entry]))
        log.info("agent %s: retirement queued for the cloud", agent_id)


class CloudRetirements:
    """:meth:`handle` is the cloud link's handler for ``site_down(..., RETIRE)``."""

    def __init__(self, retirement: AgentRetirement, audit: Audit, reports: RetirementReports | None = None) -> None:
        self._retirement = retirement
        self._audit = audit
        self._reports = reports
        self.retired = 0
        self.refused = 0

    def handle(self, _topic: str, payload: bytes) -> None:
        message = decode_or_none(AgentRetire, payload, log, "cloud retirement")
        if message is None:
            self.refused += 1
            return
        threading.Thread(target=self.process, args=(message,), name="lms-cloud-retire", daemon=True).start()

    def process(self, message: AgentRetire) -> bool:
        actor = f"cloud:{message.by}"
        try:
            done = self._retirement.retire(message.agent_id, by=actor, reason=message.reason)
        except RetirementError as exc:
            self.refused += 1
            log.warning("cloud retirement of agent %s refused: %s", message.agent_id, exc.message)
            self._audit.record(actor, None, "agent:retire", message.agent_id, f"refused: {exc.message}")
            if exc.status == 404 and self._reports is not None:  # retired already, or unknown: nothing left here
                self._reports.report_id(message.agent_id, message.timestamp, actor, message.reason)
            return False
        self.retired += 1
        self._audit.record(actor, None, "agent:retire", message.agent_id, "ok", {"reason": message.reason,
                                                                                 **done.to_dict()})  # fmt: skip
        return True
