"""The cloud retiring one of the site's agents: an :class:`~shared.messages.AgentRetire` on
``site_down(..., RETIRE)`` (sent by ``POST /api/agents/{id}/retire`` in the cloud). The LMS retires the agent as its
own ``POST /api/clients/{uuid}/retire`` does (:mod:`edge.lms.agents.retirement`), off the link's thread (the broker
round trips block), and audits it (``agent:retire``, actor ``cloud:<who>``). A bad message is logged and dropped."""

from __future__ import annotations

import logging
import threading

from edge.lms.agents.retirement import AgentRetirement, RetirementError
from edge.lms.auth import Audit
from shared.errors import SharedError
from shared.messages import AgentRetire, decode

log = logging.getLogger(__name__)


class CloudRetirements:
    """:meth:`handle` is the cloud link's handler for ``site_down(..., RETIRE)``."""

    def __init__(self, retirement: AgentRetirement, audit: Audit) -> None:
        self._retirement = retirement
        self._audit = audit
        self.retired = 0
        self.refused = 0

    def handle(self, _topic: str, payload: bytes) -> None:
        try:
            message = decode(AgentRetire, payload)
        except SharedError as exc:
            self.refused += 1
            log.warning("cloud retirement: dropped a bad message: %s", exc)
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
            return False
        self.retired += 1
        self._audit.record(actor, None, "agent:retire", message.agent_id, "ok", {"reason": message.reason,
                                                                                 **done.to_dict()})  # fmt: skip
        return True
