"""The audit log: ``AuditModel`` items <-> :class:`AuditEntry`. Partitioned by UTC day; read with Query only."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from chalicelib.domain.audit import AuditEntry
from chalicelib.models.audit import AuditModel
from chalicelib.repositories.base import day_of, dynamo_errors, expiry, sort_key

#: the days one read walks at most (one Query each)
MAX_DAYS_PER_CALL = 31


class AuditRepository:
    def append(self, entry: AuditEntry, retain_until: float) -> AuditEntry:
        entry_id = sort_key(entry.at, secrets.token_hex(4))
        item = AuditModel(
            day_of(entry.at),
            entry_id,
            at=entry.at,
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            target=entry.target,
            status=entry.status,
            result=entry.result,
            ttl=expiry(retain_until),
        )
        with dynamo_errors("write audit entry"):
            item.save()
        return AuditEntry(entry.at, entry.actor, entry.role, entry.action, entry.target, entry.status, entry.result,
                          f"{item.day}/{entry_id}")

    def between(self, since: float, until: float, limit: int,
                before: str | None = None) -> tuple[list[AuditEntry], str | None]:  # fmt: skip
        """Entries with ``since <= at < until``, newest first, at most ``limit``; ``before`` (an entry id)
        continues a previous page. One Query per UTC day, newest day first, at most :data:`MAX_DAYS_PER_CALL`
        days: the second value, when the walk stopped there, is where to go on (``before`` of the next call)."""
        out: list[AuditEntry] = []
        walked = 0
        day = datetime.fromtimestamp(until, tz=UTC).date()
        first = datetime.fromtimestamp(since, tz=UTC).date()
        upper = sort_key(until)
        if before is not None:
            before_day, _, before_key = before.partition("/")
            day = datetime.strptime(before_day, "%Y-%m-%d").replace(tzinfo=UTC).date()
            upper = before_key
        while day >= first and len(out) < limit:
            if walked == MAX_DAYS_PER_CALL:
                return out, f"{day.isoformat()}/{sort_key(until)}"
            walked += 1
            with dynamo_errors("read audit log"):
                rows = AuditModel.query(
                    day.isoformat(),
                    AuditModel.at_id.between(sort_key(since), upper),
                    scan_index_forward=False,
                    limit=limit - len(out) + 1,
                )
                for item in rows:
                    if item.at_id >= upper:  # BETWEEN is inclusive; the bound itself was on the last page
                        continue
                    out.append(AuditEntry(float(item.at), item.actor, item.role, item.action, item.target,
                                          int(item.status), item.result, f"{item.day}/{item.at_id}"))
                    if len(out) >= limit:
                        break
            day -= timedelta(days=1)
            upper = sort_key(until)
        return out, None
