"""Rotating agents' broker credentials without re-enrolment, over each agent's own authenticated connection.

For one agent (:meth:`CredentialRotation.rotate_agent`):

1. a new random password is sent to the agent as the ``rotate_broker_password`` command (``lms_only``: the
   router sends it with source ``lms`` and refuses it from every API and from the cloud; its ``password`` is
   hidden in the command journal). The agent stores it (keeping the previous one) and uses it from its next
   connection on;
2. only after the agent's success answer the LMS sets the password on the broker (dynamic-security
   ``setClientPassword``): the old password stops working at once, the broker ends the agent's session
   without its will (no "offline" is published) and the agent connects again with the new password;
3. an agent that is offline, does not answer or refuses is reported and left as it was (the broker still
   has its old password). An agent whose answer was lost after it stored the password is refused at its next
   connection and goes back to its previous password by itself (``edge.agent.site_trust``).

:meth:`CredentialRotation.rotate_site` does this for every agent that holds credentials, one after another.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from edge.lms.commands import Router
from edge.lms.commands.router import LMS_SOURCE
from edge.lms.enrolment.broker_credentials import PASSWORD_BYTES, BrokerCredentials, CredentialsError

log = logging.getLogger(__name__)

ROTATE_COMMAND = "rotate_broker_password"


@dataclass(frozen=True, slots=True)
class RotationResult:
    agent_id: str
    rotated: bool
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CredentialRotation:
    """See the module docstring."""

    def __init__(self, credentials: BrokerCredentials, router: Router, *, timeout_s: float = 15.0) -> None:
        self._credentials = credentials
        self._router = router
        self._timeout_s = timeout_s

    def rotate_agent(self, agent_id: str) -> RotationResult:
        try:
            self._credentials.check_agent_id(agent_id)
        except CredentialsError as exc:
            return RotationResult(agent_id, False, exc.message)
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        response = self._router.send(agent_id, ROTATE_COMMAND, {"password": password}, self._timeout_s,
                                     source=LMS_SOURCE)  # fmt: skip
        if not response.success:
            why = f"the agent did not take the new password ({response.error}); nothing changed"
            log.warning("rotation: %s: %s", agent_id, why)
            return RotationResult(agent_id, False, why)
        try:
            self._credentials.set_password(agent_id, password)
        except CredentialsError as exc:
            why = (f"the broker did not take the new password ({exc.message}); the agent goes back to its previous "
                   "one when refused")  # fmt: skip
            log.error("rotation: %s: %s", agent_id, why)
            return RotationResult(agent_id, False, why)
        log.warning("rotation: agent %s has a new broker password; the old one no longer works", agent_id)
        return RotationResult(agent_id, True)

    def rotate_site(self) -> list[RotationResult]:
        """Every agent that holds credentials, one after another."""
        return [self.rotate_agent(agent_id) for agent_id in self._credentials.list()]
