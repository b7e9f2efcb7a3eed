"""The audit log: every mutating API call leaves one entry (who, what, target, result)."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable

from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.page import Page, check_limit
from chalicelib.errors import BadRequest, CloudError
from chalicelib.repositories.audit import AuditRepository

log = logging.getLogger(__name__)

class AuditService:
    def __init__(
        self, repository: AuditRepository, retention_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._repository = repository
        self._retention_s = retention_s
        self._clock = clock

    def record(self, actor: str, role: str | None, action: str, target: str, status: int, result: str) -> None:
        """Append an entry. A failure is logged, not raised: the audited call has already happened."""
        now = self._clock()
        try:
            self._repository.append(AuditEntry(now, actor, role, action, target, status, result),
                                    now + self._retention_s)
        except CloudError:
            log.exception("audit entry lost: %s %s %s -> %s", actor, action, target, status)

    def page(
        self, *, since: float | None, until: float | None, limit: int = 100, cursor: str | None = None
    ) -> Page[AuditEntry]:
        check_limit(limit)
        now = self._clock()
        until = now + 1 if until is None else until
        since = until - 24 * 3600 if since is None else since
        before = None if cursor is None else _decode(cursor)
        if since >= until:  # an empty window
            return Page([], None)
        # a window of many days is read a month of days per page: a page may then hold fewer than ``limit``
        # entries (none, even) and still have a cursor
        entries, resume = self._repository.between(since, until, limit, before=before)
        if len(entries) == limit:
            return Page(entries, _encode(entries[-1].entry_id))
        return Page(entries, None if resume is None else _encode(resume))


def _encode(entry_id: str) -> str:
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        entry_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        entry_id = ""
    if not _valid_entry_id(entry_id):
        raise BadRequest("cursor: not a cursor returned by this API")
    return entry_id


def _valid_entry_id(cursor: str) -> bool:
    day, _, key = cursor.partition("/")
    head, _, tail = key.partition("#")
    return len(day) == 10 and day[4] == "-" and day[7] == "-" and day.replace("-", "").isdigit() \
        and len(head) == 15 and head.isdigit() and len(tail) <= 16 and (tail == "" or tail.isalnum())
