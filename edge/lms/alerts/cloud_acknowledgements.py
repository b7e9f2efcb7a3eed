"""Acknowledgements made in the cloud, on the LMS (docs/alerts.md#acknowledged-in-the-cloud).

The cloud sends an :class:`~shared.messages.alert.AlertAcknowledgement` on ``site_down(..., ALERT_ACK)`` when an
operator acknowledges one of this site's alerts there, and again after the site's full heartbeats until the
alert's record comes back up acknowledged or resolved (a site order). The LMS:

* acknowledges the alert if it is still firing (who: ``cloud:<operator>``, when: the cloud's time) — the next
  ``seq``, stored, sent up through the outbox like any change (so the cloud's order is answered);
* sends the alert's current record up again if it is acknowledged or resolved already (same ``seq``: the cloud
  changes nothing but closes its order) — a repeated order changes nothing here;
* refuses an alert it does not have, or whose ``key`` is not the one given (another site's alert), and a bad
  message: logged, counted, audited; nothing changes.
"""

from __future__ import annotations

import logging

from edge.lms.alerts.alert_errors import AlertError
from edge.lms.alerts.alert_tracks import LOCAL_ONLY_KINDS
from edge.lms.alerts.alerting import Alerting
from edge.lms.auth import Audit
from shared.messages.alert import AlertAcknowledgement, AlertState
from shared.messages.base import decode_or_none

log = logging.getLogger(__name__)

ACTION = "alert:acknowledge"


class CloudAcknowledgements:
    """:meth:`handle` is the cloud link's handler for ``site_down(..., ALERT_ACK)``."""

    def __init__(self, alerting: Alerting, audit: Audit) -> None:
        self._alerting = alerting
        self._audit = audit
        self.acknowledged = 0
        self.answered = 0
        self.refused = 0

    def handle(self, _topic: str, payload: bytes) -> None:
        message = decode_or_none(AlertAcknowledgement, payload, log, "cloud acknowledgement")
        if message is None:
            self.refused += 1
            return
        self.process(message)

    def process(self, message: AlertAcknowledgement) -> str:
        """``acknowledged``, ``answered`` (nothing to change: its record sent again) or ``refused``."""
        actor = f"cloud:{message.acknowledged_by}"
        book = self._alerting.book
        record = book.get(message.alert_id)
        if record is None or record.key != message.key or record.condition_kind in LOCAL_ONLY_KINDS:
            self.refused += 1
            why = "no such alert on this site" if record is None or record.key == message.key else "not this alert"
            log.warning("cloud acknowledgement of alert %s refused: %s", message.alert_id, why)
            self._audit.record(actor, None, ACTION, message.alert_id, f"refused: {why}")
            return "refused"
        if record.state is AlertState.FIRING:
            try:
                done = self._alerting.evaluator.acknowledge(message.alert_id, actor, at=message.acknowledged_at)
            except AlertError:  # resolved meanwhile: answered below
                done = record
            if done.seq > record.seq:
                self.acknowledged += 1
                self._audit.record(actor, None, ACTION, message.alert_id, "ok")
                return "acknowledged"
        current = book.get(message.alert_id) or record
        self._alerting.report(current)
        self.answered += 1
        log.info("cloud acknowledgement of alert %s: %s already, its record sent again", message.alert_id,
                 current.state.value)  # fmt: skip
        return "answered"
