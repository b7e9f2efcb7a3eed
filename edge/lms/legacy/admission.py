"""Who may be a ClassTop client of this site. The clients send no credentials (docs/classtop.md), so their uuid
is their only identity, and the LMS decides per uuid:

* never an **agent's id** — a registry row of another kind, or an ``enrollments`` row (enrolled, perhaps not seen
  yet): refused (403) on ``/ws`` and on the sync endpoints, so a LAN host can neither take an agent's commands nor
  read or write its timetable;
* ``[classtop] client_policy``: ``open`` approves a new uuid at once; ``approval`` keeps it **pending** until a site
  admin approves (or rejects) it through the API. A pending client is not in the registry (so not commandable and
  not in the cloud heartbeat) and its sync is refused; a rejected one is refused everywhere;
* **bounded**: at most ``max_clients`` uuids in all and ``max_pending`` pending (a new pending one replaces the
  longest-silent pending one that is not connected; when every one is connected it is refused with 503).

Decisions live in memory (loaded at start) and are written to ``classtop_admissions`` by a writer thread (group
commit), so a decision costs no disk transaction; approvals and rejections are flushed before they return. The
``enrollments`` lookup reads SQLite: call :meth:`Admissions.admit` off the event loop.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from edge.lms.agents import Registry
from edge.lms.config import ClassTopSettings
from edge.lms.enrolment import EnrolmentRows
from edge.lms.errors import LmsError
from edge.lms.legacy.admission_rows import Admission, AdmissionChange, AdmissionRows, Approval
from edge.lms.store import Batcher, Store
from shared.errors import ErrorCode
from shared.messages import AgentKind

log = logging.getLogger(__name__)

WRITE_DELAY_S = 0.05
MAX_NAME = 200


class Refused(LmsError):
    """A ClassTop request the LMS refuses: ``status`` and ``code`` are the HTTP answer, ``retry_after_s`` (if any)
    says when to come back."""

    def __init__(self, status: int, code: ErrorCode, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message, status)
        self.code = code
        self.retry_after_s = retry_after_s


class Admissions:
    """:meth:`load`, :meth:`start`; :meth:`admit` per request; :meth:`approve` / :meth:`reject` for admins."""

    def __init__(
        self, store: Store, registry: Registry, settings: ClassTopSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._rows = AdmissionRows(store)
        self._enrolments = EnrolmentRows(store)
        self._registry = registry
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, Admission] = {}
        self._connected: Callable[[str], bool] = lambda _uuid: False
        self._writer: Batcher[AdmissionChange] = Batcher(
            "lms-classtop-admissions", self._rows.write, delay_s=WRITE_DELAY_S
        )
        self.evicted = 0

    # ------------------------------------------------------------ lifecycle

    def load(self) -> Admissions:
        rows = self._rows.load()
        with self._lock:
            for admission in rows:
                self._known[admission.client_uuid] = admission
        log.info("classtop: %d known clients (%d pending), policy %s", len(rows), self.pending_count(),
                 self.settings.client_policy)  # fmt: skip
        return self

    def start(self) -> Admissions:
        self._writer.start()
        return self

    def stop(self) -> None:
        self._writer.stop()

    def flush(self, timeout_s: float = 10.0) -> bool:
        return self._writer.flush(timeout_s)

    def set_connected_check(self, connected: Callable[[str], bool]) -> None:
        """Which uuids have a ``/ws`` connection open (those pending are never replaced by newcomers)."""
        self._connected = connected

    # ------------------------------------------------------------ queries

    def get(self, client_uuid: str) -> Admission | None:
        with self._lock:
            known = self._known.get(client_uuid)
            return None if known is None else dataclasses.replace(known)

    def clients(self, approval: Approval | None = None) -> list[Admission]:
        with self._lock:
            rows = [dataclasses.replace(a) for a in self._known.values() if approval is None or a.approval is approval]
        return sorted(rows, key=lambda a: (a.first_seen, a.client_uuid))

    def pending_count(self) -> int:
        with self._lock:
            return sum(1 for a in self._known.values() if a.approval is Approval.PENDING)

    def is_agent(self, client_uuid: str) -> bool:
        """The id of one of the site's agents (seen on MQTT, or enrolled): never a ClassTop client."""
        kind = self._registry.kind(client_uuid)
        if kind is not None:
            return kind != AgentKind.LEGACY.value
        return self._enrolments.is_enrolled(client_uuid)

    # ------------------------------------------------------------ deciding (off the event loop)

    def admit(self, client_uuid: str, ip_address: str | None, *, create: bool = True) -> Approval | None:
        """The uuid's standing, made (per the policy) when new and ``create``; ``None`` for an unknown uuid when
        not ``create``. Raises :class:`Refused` for an agent's id, a rejected client or a full LMS."""
        if self.is_agent(client_uuid):
            raise Refused(403, ErrorCode.FORBIDDEN,
                          f"{client_uuid!r} is an agent of this site, not a ClassTop client")  # fmt: skip
        now = self._clock()
        with self._lock:
            known = self._known.get(client_uuid)
            if known is not None:
                if known.approval is Approval.REJECTED:
                    raise Refused(403, ErrorCode.FORBIDDEN,
                                  f"ClassTop client {client_uuid!r} was rejected by the site admin")  # fmt: skip
                if create:  # a sign of life (reads do not count)
                    known.last_seen, known.ip_address = now, ip_address or known.ip_address
                    self._persist(known)
                return known.approval
            if not create:
                return None
            approval = Approval.APPROVED if self.settings.client_policy == "open" else Approval.PENDING
            self._make_room(client_uuid, approval)
            admission = Admission(client_uuid, approval, "", ip_address, now, now)
            if approval is Approval.APPROVED:
                admission.decided_at, admission.decided_by = now, "policy open"
            self._known[client_uuid] = admission
            self._persist(admission)
        log.info("classtop: new client %s from %s is %s", client_uuid, ip_address, approval.value)
        return approval

    def seen(self, client_uuid: str, *, name: str | None = None) -> None:
        """A pending client told its name (its ``client_name`` setting): shown to the admin who decides."""
        with self._lock:
            known = self._known.get(client_uuid)
            if known is None or name is None or known.name == name[:MAX_NAME]:
                return
            known.name = name[:MAX_NAME]
            self._persist(known)

    def approve(self, client_uuid: str, actor: str) -> Admission:
        """Approve a pending (or rejected) client; idempotent. Raises :class:`Refused` (404) for an unknown one."""
        return self._decide(client_uuid, Approval.APPROVED, actor)

    def reject(self, client_uuid: str, actor: str) -> Admission:
        """Reject a pending client; idempotent. An approved client cannot be rejected (409)."""
        return self._decide(client_uuid, Approval.REJECTED, actor)

    # ------------------------------------------------------------ internals

    def _decide(self, client_uuid: str, approval: Approval, actor: str) -> Admission:
        if approval is Approval.APPROVED and self.is_agent(client_uuid):  # enrolled (or seen on MQTT) since it asked
            raise Refused(409, ErrorCode.CONFLICT,
                          f"{client_uuid!r} is an agent of this site now, not a ClassTop client")  # fmt: skip
        with self._lock:
            known = self._known.get(client_uuid)
            if known is None:
                raise Refused(404, ErrorCode.NOT_FOUND,
                              f"no ClassTop client {client_uuid!r} has asked to join this site")  # fmt: skip
            if known.approval is Approval.APPROVED and approval is Approval.REJECTED:
                raise Refused(409, ErrorCode.CONFLICT, f"ClassTop client {client_uuid!r} is approved already; only a "
                              "pending client can be rejected")  # fmt: skip
            if known.approval is not approval:
                known.approval, known.decided_at, known.decided_by = approval, self._clock(), actor
                self._persist(known)
            decided = dataclasses.replace(known)
        self.flush()
        log.info("classtop: client %s %s by %s", client_uuid, approval.value, actor)
        return decided

    def _make_room(self, client_uuid: str, approval: Approval) -> None:
        """(lock held) Room for one more client, or :class:`Refused`."""
        if len(self._known) >= self.settings.max_clients:
            raise Refused(503, ErrorCode.BUSY, f"this LMS keeps at most {self.settings.max_clients} ClassTop clients; "
                          f"{client_uuid!r} cannot join (a site admin can raise classtop.max_clients)")  # fmt: skip
        if approval is not Approval.PENDING:
            return
        pending = [a for a in self._known.values() if a.approval is Approval.PENDING]
        if len(pending) < self.settings.max_pending:
            return
        idle = [a for a in pending if not self._connected(a.client_uuid)]
        if not idle:
            raise Refused(503, ErrorCode.BUSY, f"{len(pending)} ClassTop clients are waiting for approval already "
                          "(classtop.max_pending); a site admin must decide on them first")  # fmt: skip
        oldest = min(idle, key=lambda a: a.last_seen)
        del self._known[oldest.client_uuid]
        self._persist(oldest, "delete")
        self.evicted += 1
        log.warning("classtop: pending client %s (silent since %.0f) forgotten to make room", oldest.client_uuid,
                    oldest.last_seen)  # fmt: skip

    def _persist(self, admission: Admission, op: str = "upsert") -> None:
        change: AdmissionChange = (op, dataclasses.replace(admission))
        if self._writer.running:
            self._writer.put(change)
        else:
            self._rows.write([change])
