"""Retiring an agent: a PC leaves the site for good (replaced, scrapped, moved to another school).

In this order, each step safe to repeat (a retirement that failed half-way is finished by running it again):

1. the registry forgets it and drops its messages from then on (a message in flight, the retained status the
   revocation leaves, cannot bring its row back, nor announce a presence change the site heartbeat would carry
   to the cloud);
2. its broker credentials are revoked (dynsec: the broker disconnects it at once and refuses its password from
   then on) — with enrolment off (no ``[site_broker.dynsec]``) there is nothing to revoke;
3. its commands still queued for it are cancelled (a cloud command's cancellation is reported to the cloud);
4. its live rows (``clients``, ``enrollments``, tags, group membership) move into the archive
   (:mod:`edge.lms.agents.retired_rows`, one transaction), kept for audit and history; its connection log,
   command log and metrics history stay as they are (the metrics history is pruned by its retention);
5. its retained status on the site broker is cleared.

Its id can enrol again only with an enrolment token made after the retirement
(:class:`edge.lms.enrolment.Enrolments`). The caller audits the retirement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.lms.agents.registry import Registry
from edge.lms.agents.retired_rows import RetiredRows
from edge.lms.errors import LmsError
from edge.lms.store import Store
from shared import topics
from shared.errors import TopicError

if TYPE_CHECKING:
    from edge.lms.commands import CommandQueue
    from edge.lms.enrolment import Enrolments
    from shared.mqtt import MqttClient

log = logging.getLogger(__name__)

#: the most queued commands one retirement cancels (an agent's queue is bounded far below this)
MAX_CANCELLED = 10_000
MAX_REASON_CHARS = 200


class RetirementError(LmsError):
    """The agent cannot be retired (unknown, a bad id, the broker unavailable)."""


@dataclass(frozen=True, slots=True)
class Retirement:
    agent_id: str
    retired_at: float
    #: whether it held broker credentials (they are revoked now)
    credentials_revoked: bool
    #: its queued commands cancelled
    commands_cancelled: int
    #: the archive row's id
    archive_id: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id, "retired": True, "retired_at": self.retired_at,
            "credentials_revoked": self.credentials_revoked, "commands_cancelled": self.commands_cancelled,
            "archive_id": self.archive_id,
        }  # fmt: skip


class AgentRetirement:
    """Retire agents of this site (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        *,
        enrolments: Enrolments | None,
        queue: CommandQueue | None,
        site: MqttClient | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rows = RetiredRows(store)
        self._registry = registry
        self._enrolments = enrolments
        self._queue = queue
        self._site = site
        self._clock = clock
        self._listeners: list[Callable[[Retirement, str | None, str | None], None]] = []

    def add_listener(self, listener: Callable[[Retirement, str | None, str | None], None]) -> None:
        """``listener(retirement, by, reason)`` after each retirement (the cloud side reports it to the cloud)."""
        self._listeners.append(listener)

    def retire(self, agent_id: str, *, by: str | None, reason: str | None = None) -> Retirement:
        """Retire the agent. :class:`RetirementError` (404) when the LMS knows nothing of it, (409) when it is a
        ClassTop client (those are removed through their admissions), (503) when the broker cannot revoke."""
        try:
            topics.check_id(agent_id, "agent id")
        except TopicError as exc:
            raise RetirementError(exc.message, status=422) from None
        if reason is not None and len(reason) > MAX_REASON_CHARS:
            raise RetirementError(f"reason: at most {MAX_REASON_CHARS} characters", status=422)
        kind = self._registry.kind(agent_id)
        if kind is not None and kind != "agent":
            raise RetirementError(f"{agent_id!r} is a {kind} client, not an agent", status=409)
        was_retired = self._registry.is_retired(agent_id)
        # Forgotten first: the offline status the revocation leaves must not announce a presence change (a site
        # heartbeat would carry it to the cloud after the cloud has retired the agent too).
        row = self._registry.forget(agent_id)
        try:
            revoked = self._revoke(agent_id)
        except RetirementError:
            if not was_retired:
                self._registry.reinstate(agent_id, row)  # not retired after all
            raise
        cancelled = self._cancel_queued(agent_id)
        now = self._clock()
        # credentials without any row (a half-made enrolment) are archived too: the fact is worth keeping
        archived = self._rows.archive(agent_id, at=now, by=by, reason=reason, even_empty=revoked)
        if archived is None:
            if not was_retired:
                self._registry.reinstate(agent_id)  # nothing of it here: leave no trace
            what = "is retired already" if was_retired else "is unknown"
            raise RetirementError(f"agent {agent_id!r} {what}", status=404)
        self._clear_retained(agent_id)
        log.info("agent %s retired by %s (credentials %s, %d queued commands cancelled)", agent_id, by,
                 "revoked" if revoked else "none", cancelled)  # fmt: skip
        done = Retirement(agent_id, now, revoked, cancelled, int(archived["id"]))
        for listener in list(self._listeners):
            try:
                listener(done, by, reason)
            except Exception:  # a listener's trouble never undoes the retirement
                log.exception("agent %s: a retirement listener failed", agent_id)
        return done

    def entries(self, agent_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self._rows.entries(agent_id, limit)

    def retired_ids(self) -> set[str]:
        return self._rows.retired_ids()

    def _revoke(self, agent_id: str) -> bool:
        if self._enrolments is None:
            return False
        from edge.lms.enrolment import EnrolmentError

        try:
            self._enrolments.revoke(agent_id)
        except EnrolmentError as exc:
            if exc.status == 404:
                return False  # it never had credentials (enrolled before enrolment existed, or by hand)
            raise RetirementError(exc.message, status=exc.status) from None
        return True

    def _cancel_queued(self, agent_id: str) -> int:
        if self._queue is None:
            return 0
        cancelled = 0
        for entry in self._queue.entries(agent_id, "queued", MAX_CANCELLED):
            if self._queue.cancel(int(entry["id"])):
                cancelled += 1
        return cancelled

    def _clear_retained(self, agent_id: str) -> None:
        """An empty retained message deletes the broker's retained status of the agent."""
        if self._site is None:
            return
        try:
            self._site.publish(topics.agent_up(agent_id, topics.AgentUp.STATUS), b"", qos=1, retain=True)
        except Exception:  # the broker is down: the registry drops the stale status anyway
            log.warning("agent %s: retired, but its retained status could not be cleared", agent_id)
