"""Unchanged ClassTop desktop clients syncing with the cloud (the ClassTop wire contract: docs/classtop.md).

They send no credentials, so the tenant's ``client_policy`` decides who may: ``open`` (every client is approved),
``approval`` (a new client is accepted and its data kept, but it is ``pending`` until an admin approves it) or
``closed`` (only clients already known may sync). A rejected client is refused (403) on every call.

Each upload is the client's full snapshot: its courses and schedule are replaced as a whole (ids absent from the
upload are gone), in one transaction with the client's counters. Downloads return the client's own ids.

Clients upload every 5 minutes whether or not anything changed, so an upload identical to the stored one (the same
SHA-256 of its courses and of its schedule: the client item's ``digest``, :func:`upload_digest`) writes nothing
unless ``last_sync_at`` is older than :data:`SYNC_TOUCH_S`; then it only *touches* the client: one UpdateItem of
``last_sync_at`` (no snapshot rewritten, no rate limit taken, no audit entry: it changes no data, and a client can
be touched at most once an hour whatever it sends) — sync freshness is known to within that. A changed upload
writes only the snapshot that changed (a new schedule leaves the courses item as it is), with the client item, in
one transaction (docs/classtop.md, "What the cloud writes per sync").

Without credentials, the client uuid is all that names a client, so whoever knows an approved client's uuid can
upload for it. What bounds that (issue 11 item 11): an upload that would write data (a changed snapshot, a new
client) counts against two fixed-window limits kept in DynamoDB — per client uuid
(``sync_writes_per_client``) and per source address (``sync_writes_per_source``) in each ``sync_window_s`` —
and over either it is a 429 that writes nothing. Every upload that wrote, and every one refused (rate limit,
rejected client, closed policy, too large), is audited (``client.sync``: the uuid, the source address, the counts),
so an admin sees who changed a timetable from where and can reject the client. An unchanged upload is neither
counted nor audited: it changes nothing (and auditing it would cost one write per client every 5 minutes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.domain.page import Page
from chalicelib.domain.snapshot import Snapshot
from chalicelib.errors import (
    CloudError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    StaleWrite,
    TooManyRequests,
    UpstreamError,
)
from chalicelib.repositories.classtop_client import ClassTopClientRepository
from chalicelib.services.audit import AuditService
from chalicelib.services.optimistic_writes import retry_stale
from chalicelib.services.rate_limits import RateLimiter
from shared.errors import ErrorCode

COURSES = "courses"
SCHEDULE = "schedule"
#: an unchanged upload refreshes ``last_sync_at`` at most this often
SYNC_TOUCH_S = 3600.0


@dataclass(frozen=True, slots=True)
class SyncCounts:
    synced_courses: int
    synced_entries: int


class ClassTopClientService:
    def __init__(
        self,
        clients: ClassTopClientRepository,
        settings: Settings,
        limiter: RateLimiter,
        audit: AuditService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._settings = settings
        self._limiter = limiter
        self._audit = audit
        self._clock = clock

    # ------------------------------------------------------------ the five endpoints

    def register(self, client_uuid: str, name: str, api_url: str) -> tuple[ClassTopClient, bool]:
        """Idempotent: a known client is returned as it is (its name/url refreshed). Returns (client, created)."""
        known = self._clients.get(client_uuid)
        if known is not None:
            self._check_not_rejected(known)
            if (name and name != known.name) or api_url != known.api_url:
                # a concurrent sync or approval may win; the registration itself stands
                with contextlib.suppress(StaleWrite):
                    known = self._clients.save(dataclasses.replace(known, name=name or known.name, api_url=api_url))
            return known, False
        return self._admit(client_uuid, name, api_url), True

    def sync(
        self, client_uuid: str, courses: list[dict[str, Any]], entries: list[dict[str, Any]], source: str
    ) -> SyncCounts:
        """Replace the client's snapshot (see the module docstring); ``source`` is the caller's address."""
        target = f"/api/sync client_uuid={client_uuid} from={source} courses={len(courses)} entries={len(entries)}"
        try:
            counts, written = self._sync(client_uuid, courses, entries, source)
        except CloudError as exc:
            self._audit.record(f"client:{client_uuid}", None, "client.sync", target, exc.status, exc.code.value)
            raise
        if written:
            self._audit.record(f"client:{client_uuid}", None, "client.sync", target, 200, "ok")
        return counts

    def _sync(
        self, client_uuid: str, courses: list[dict[str, Any]], entries: list[dict[str, Any]], source: str
    ) -> tuple[SyncCounts, bool]:
        """The sync and whether it wrote anything."""
        counts = SyncCounts(len(courses), len(entries))
        for kind, rows in ((COURSES, courses), (SCHEDULE, entries)):
            size = len(json.dumps(rows, separators=(",", ":")).encode())
            if size > self._settings.max_snapshot_bytes:
                raise PayloadTooLarge(
                    f"{kind}: {size} bytes of JSON exceed the {self._settings.max_snapshot_bytes}-byte snapshot limit"
                )
        uploaded = {COURSES: courses, SCHEDULE: entries}
        digest = upload_digest(uploaded)
        known = self._clients.get(client_uuid)
        if known is not None:
            self._check_not_rejected(known)
            if known.digest == digest:
                self._touch_if_due(known)
                return counts, False
        else:
            self._check_admissible(client_uuid)
        self._take_allowance(client_uuid, source)

        def attempt() -> tuple[SyncCounts, bool]:
            client = self._clients.get(client_uuid)
            if client is None:
                client = self._admit(client_uuid, "", "")
            self._check_not_rejected(client)
            if client.digest == digest:  # a concurrent upload of the same data wrote it
                return counts, False
            now = self._clock()
            version = (client.revision or 0) + 1  # the client item's revision orders its uploads
            stored, new = _kind_digests(client.digest), _kind_digests(digest)
            snapshots = [
                Snapshot(client_uuid, kind, rows, version, now)
                for kind, rows in uploaded.items()
                if stored.get(kind) != new[kind]
            ]
            updated = dataclasses.replace(
                client, last_sync_at=now, course_count=len(courses), entry_count=len(entries), digest=digest
            )
            self._clients.replace_snapshots(updated, snapshots)
            return counts, True

        return retry_stale(attempt, UpstreamError(f"sync of {client_uuid}: too many concurrent updates; retry"))

    def _touch_if_due(self, client: ClassTopClient) -> None:
        """An unchanged upload: refresh ``last_sync_at`` alone when it is :data:`SYNC_TOUCH_S` old (or unset)."""
        now = self._clock()
        if client.last_sync_at is not None and now - client.last_sync_at < SYNC_TOUCH_S:
            return
        # a concurrent write (a changed upload, an approval) moved the item on: it is fresh enough, or the next
        # upload (5 minutes later) touches it
        with contextlib.suppress(StaleWrite):
            self._clients.touch(client, now)

    def _take_allowance(self, client_uuid: str, source: str) -> None:
        """Count one writing upload against the source's and the client's limits (429 when over either)."""
        window = self._settings.sync_window_s
        for scope, subject, limit, whose in (
            ("sync-source", source, self._settings.sync_writes_per_source, f"from this address ({source})"),
            ("sync-client", client_uuid, self._settings.sync_writes_per_client, "for this client"),
        ):
            retry_after = self._limiter.take(scope, subject, limit, window)
            if retry_after is not None:
                raise TooManyRequests(
                    f"sync of client {client_uuid}: more than {limit} uploads that change data {whose} within "
                    f"{window} s; nothing was written; retry in {int(retry_after)} s",
                    details={"retry_after_s": int(retry_after)},
                )

    def courses(self, client_uuid: str) -> list[dict[str, Any]]:
        self._known(client_uuid)
        snap = self._clients.snapshot(client_uuid, COURSES)
        rows: list[dict[str, Any]] = snap.body if snap else []
        # the client needs ``location`` present (else it shows a conflict and wipes its own value)
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "teacher": r.get("teacher") or "",
                "location": "",
                "color": r.get("color") or "",
                "note": r.get("note"),
            }
            for r in rows
        ]

    def schedule(self, client_uuid: str) -> list[dict[str, Any]]:
        self._known(client_uuid)
        snap = self._clients.snapshot(client_uuid, SCHEDULE)
        rows: list[dict[str, Any]] = snap.body if snap else []
        return [{**r, "weeks": list(r.get("weeks") or [])} for r in rows]

    # ------------------------------------------------------------ administration

    def get(self, client_uuid: str) -> ClassTopClient:
        client = self._clients.get(client_uuid)
        if client is None:
            raise NotFound(f"unknown client {client_uuid}", code=ErrorCode.UNKNOWN_AGENT)
        return client

    def page(self, *, pending_only: bool = False, limit: int = 100, cursor: str | None = None) -> Page[ClassTopClient]:
        return self._clients.page(pending_only=pending_only, limit=limit, cursor=cursor)

    def decide(self, client_uuid: str, approval: Approval) -> ClassTopClient:
        """Approve or reject a client (admin). Idempotent; a rejected client can be approved later."""

        def attempt() -> ClassTopClient:
            client = self.get(client_uuid)
            if client.approval is approval:
                return client
            return self._clients.save(dataclasses.replace(client, approval=approval))

        return retry_stale(attempt, UpstreamError(f"client {client_uuid}: too many concurrent updates; retry"))

    # ------------------------------------------------------------ helpers

    def _check_admissible(self, client_uuid: str) -> None:
        if self._settings.client_policy == "closed":
            raise Forbidden(f"client {client_uuid} is not known and this tenant admits no new clients")

    def _admit(self, client_uuid: str, name: str, api_url: str) -> ClassTopClient:
        self._check_admissible(client_uuid)
        approval = Approval.APPROVED if self._settings.client_policy == "open" else Approval.PENDING
        client = ClassTopClient(client_uuid, name, api_url, approval, registered_at=self._clock())
        try:
            return self._clients.create(client)
        except Conflict:  # registered concurrently (the client's register and first sync race at start)
            known = self._clients.get(client_uuid)
            if known is None:
                raise
            return known

    def _known(self, client_uuid: str) -> ClassTopClient:
        client = self._clients.get(client_uuid)
        if client is None:
            raise NotFound(f"unknown client {client_uuid}: register first", code=ErrorCode.UNKNOWN_AGENT)
        self._check_not_rejected(client)
        return client

    @staticmethod
    def _check_not_rejected(client: ClassTopClient) -> None:
        if client.approval is Approval.REJECTED:
            raise Forbidden(f"client {client.client_uuid} was rejected by an administrator")


def upload_digest(uploaded: dict[str, list[dict[str, Any]]]) -> str:
    """The stored ``digest`` of an upload: ``<kind>=<SHA-256 of its canonical JSON>`` per kind, joined by ``,``
    (a digest stored before, one SHA-256 of both, matches no upload: the next one rewrites both snapshots once)."""
    return ",".join(
        f"{kind}={hashlib.sha256(json.dumps(rows, separators=(',', ':'), sort_keys=True).encode()).hexdigest()}"
        for kind, rows in sorted(uploaded.items())
    )


def _kind_digests(digest: str | None) -> dict[str, str]:
    """A stored digest's per-kind hashes (none for a digest in the earlier form)."""
    return dict(part.split("=", 1) for part in (digest or "").split(",") if "=" in part)
