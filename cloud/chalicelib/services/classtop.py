"""Unchanged ClassTop desktop clients syncing with the cloud (CLASSTOP-COMPAT.md §1).

They send no credentials, so the tenant's ``client_policy`` decides who may: ``open`` (every client is approved),
``approval`` (a new client is accepted and its data kept, but it is ``pending`` until an admin approves it) or
``closed`` (only clients already known may sync). A rejected client is refused (403) on every call.

Each upload is the client's full snapshot: its courses and schedule are replaced as a whole (ids absent from the
upload are gone), in one transaction with the client's counters. Downloads return the client's own ids.

Clients upload every 5 minutes whether or not anything changed, so an upload identical to the stored one (same
SHA-256) writes nothing unless ``last_sync_at`` is older than :data:`SYNC_TOUCH_S` — sync freshness is known
to within that.
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
from chalicelib.domain.client import Approval, Client, Snapshot
from chalicelib.domain.page import Page
from chalicelib.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, StaleWrite, UpstreamError
from chalicelib.repositories.client import ClientRepository
from shared.errors import ErrorCode

COURSES = "courses"
SCHEDULE = "schedule"
_WRITE_ATTEMPTS = 5
#: an unchanged upload refreshes ``last_sync_at`` at most this often
SYNC_TOUCH_S = 3600.0


@dataclass(frozen=True, slots=True)
class SyncCounts:
    synced_courses: int
    synced_entries: int


class ClassTopService:
    def __init__(self, clients: ClientRepository, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._clients = clients
        self._settings = settings
        self._clock = clock

    # ------------------------------------------------------------ the five endpoints

    def register(self, client_uuid: str, name: str, api_url: str) -> tuple[Client, bool]:
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

    def sync(self, client_uuid: str, courses: list[dict[str, Any]], entries: list[dict[str, Any]]) -> SyncCounts:
        for kind, rows in ((COURSES, courses), (SCHEDULE, entries)):
            size = len(json.dumps(rows, separators=(",", ":")).encode())
            if size > self._settings.max_snapshot_bytes:
                raise PayloadTooLarge(
                    f"{kind}: {size} bytes of JSON exceed the {self._settings.max_snapshot_bytes}-byte snapshot limit"
                )
        digest = hashlib.sha256(json.dumps([courses, entries], separators=(",", ":"), sort_keys=True).encode()
                                ).hexdigest()
        for _ in range(_WRITE_ATTEMPTS):
            client = self._clients.get(client_uuid)
            if client is None:
                client = self._admit(client_uuid, "", "")
            self._check_not_rejected(client)
            now = self._clock()
            if (client.digest == digest and client.last_sync_at is not None
                    and now - client.last_sync_at < SYNC_TOUCH_S):
                return SyncCounts(len(courses), len(entries))
            version = (client.revision or 0) + 1  # the client item's revision orders its uploads
            snapshots = [
                Snapshot(client_uuid, COURSES, courses, version, now),
                Snapshot(client_uuid, SCHEDULE, entries, version, now),
            ]
            updated = dataclasses.replace(client, last_sync_at=now, course_count=len(courses),
                                          entry_count=len(entries), digest=digest)
            try:
                self._clients.replace_snapshots(updated, snapshots)
            except StaleWrite:
                continue
            return SyncCounts(len(courses), len(entries))
        raise UpstreamError(f"sync of {client_uuid}: too many concurrent updates; retry")

    def courses(self, client_uuid: str) -> list[dict[str, Any]]:
        self._known(client_uuid)
        snap = self._clients.snapshot(client_uuid, COURSES)
        rows: list[dict[str, Any]] = snap.body if snap else []
        # the client needs ``location`` present (else it shows a conflict and wipes its own value)
        return [{"id": r["id"], "name": r["name"], "teacher": r.get("teacher") or "", "location": "",
                 "color": r.get("color") or "", "note": r.get("note")} for r in rows]

    def schedule(self, client_uuid: str) -> list[dict[str, Any]]:
        self._known(client_uuid)
        snap = self._clients.snapshot(client_uuid, SCHEDULE)
        rows: list[dict[str, Any]] = snap.body if snap else []
        return [{**r, "weeks": list(r.get("weeks") or [])} for r in rows]

    # ------------------------------------------------------------ administration

    def get(self, client_uuid: str) -> Client:
        client = self._clients.get(client_uuid)
        if client is None:
            raise NotFound(f"unknown client {client_uuid}", code=ErrorCode.UNKNOWN_AGENT)
        return client

    def page(self, *, pending_only: bool = False, limit: int = 100, cursor: str | None = None) -> Page[Client]:
        return self._clients.page(pending_only=pending_only, limit=limit, cursor=cursor)

    def decide(self, client_uuid: str, approval: Approval) -> Client:
        """Approve or reject a client (admin). Idempotent; a rejected client can be approved later."""
        for _ in range(_WRITE_ATTEMPTS):
            client = self.get(client_uuid)
            if client.approval is approval:
                return client
            try:
                return self._clients.save(dataclasses.replace(client, approval=approval))
            except StaleWrite:
                continue
        raise UpstreamError(f"client {client_uuid}: too many concurrent updates; retry")

    # ------------------------------------------------------------ helpers

    def _admit(self, client_uuid: str, name: str, api_url: str) -> Client:
        policy = self._settings.client_policy
        if policy == "closed":
            raise Forbidden(f"client {client_uuid} is not known and this tenant admits no new clients")
        approval = Approval.APPROVED if policy == "open" else Approval.PENDING
        client = Client(client_uuid, name, api_url, approval, registered_at=self._clock())
        try:
            return self._clients.create(client)
        except Conflict:  # registered concurrently (the client's register and first sync race at start)
            known = self._clients.get(client_uuid)
            if known is None:
                raise
            return known

    def _known(self, client_uuid: str) -> Client:
        client = self._clients.get(client_uuid)
        if client is None:
            raise NotFound(f"unknown client {client_uuid}: register first", code=ErrorCode.UNKNOWN_AGENT)
        self._check_not_rejected(client)
        return client

    @staticmethod
    def _check_not_rejected(client: Client) -> None:
        if client.approval is Approval.REJECTED:
            raise Forbidden(f"client {client.client_uuid} was rejected by an administrator")
