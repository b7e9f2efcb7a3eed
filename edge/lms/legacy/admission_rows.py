"""The admission decisions on ClassTop clients (table ``classtop_admissions``): who asked, from where, and whether a
site admin (or the ``open`` policy) approved or rejected them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from edge.lms.agents import AgentRows
from edge.lms.store import Store
from shared.messages import AgentKind

#: Schema version 8. The ClassTop clients an LMS knew before (WebSocket ones in ``clients``, HTTP-sync ones in
#: ``classtop_clients`` that are not agents) start approved.
ADMISSIONS_TABLE_V8 = (
    """CREATE TABLE IF NOT EXISTS classtop_admissions (
            client_uuid TEXT PRIMARY KEY,
            approval TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            ip_address TEXT,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            decided_at REAL,
            decided_by TEXT
        )""",
    """INSERT OR IGNORE INTO classtop_admissions (client_uuid, approval, name, ip_address, first_seen, last_seen,
            decided_at, decided_by)
           SELECT uuid, 'approved', '', ip_address, first_seen, COALESCE(last_seen, first_seen), first_seen,
            'schema 8' FROM clients WHERE kind = 'legacy'""",
    """INSERT OR IGNORE INTO classtop_admissions (client_uuid, approval, name, ip_address, first_seen, last_seen,
            decided_at, decided_by)
           SELECT client_uuid, 'approved', name, NULL, COALESCE(registered_at, synced_at, 0),
            COALESCE(synced_at, registered_at, 0), COALESCE(registered_at, synced_at, 0), 'schema 8'
           FROM classtop_clients WHERE (source IS NULL OR source = 'http')
            AND client_uuid NOT IN (SELECT uuid FROM clients WHERE kind != 'legacy')""",
)

_COLUMNS = ("client_uuid", "approval", "name", "ip_address", "first_seen", "last_seen", "decided_at", "decided_by")


class Approval(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(slots=True)
class Admission:
    client_uuid: str
    approval: Approval
    name: str = ""
    ip_address: str | None = None
    first_seen: float = 0.0
    last_seen: float = 0.0
    decided_at: float | None = None
    decided_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As the API shows it (the client's id is ``uuid`` there)."""
        return {
            "uuid": self.client_uuid, "approval": self.approval.value, "name": self.name,
            "ip_address": self.ip_address, "first_seen": self.first_seen, "last_seen": self.last_seen,
            "decided_at": self.decided_at, "decided_by": self.decided_by,
        }  # fmt: skip


#: A change to write: ("upsert" | "delete", row).
AdmissionChange = tuple[str, Admission]


class AdmissionRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    def load(self) -> list[Admission]:
        rows = self._store.query(f"SELECT {', '.join(_COLUMNS)} FROM classtop_admissions")
        return [Admission(r[0], Approval(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def write(self, changes: Sequence[AdmissionChange]) -> None:
        """Upserts and deletes, in order, in one transaction."""
        if not changes:
            return
        with self._store.transaction() as conn:
            for op, a in changes:
                if op == "delete":
                    conn.execute("DELETE FROM classtop_admissions WHERE client_uuid = ?", (a.client_uuid,))
                    continue
                conn.execute(
                    f"INSERT INTO classtop_admissions ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(client_uuid) DO UPDATE SET approval = excluded.approval, name = excluded.name, "
                    "ip_address = excluded.ip_address, last_seen = excluded.last_seen, "
                    "decided_at = excluded.decided_at, decided_by = excluded.decided_by",
                    (a.client_uuid, a.approval.value, a.name, a.ip_address, a.first_seen, a.last_seen, a.decided_at,
                     a.decided_by),
                )  # fmt: skip


def is_classtop_client(store: Store, client_uuid: str) -> bool:
    """Whether ``client_uuid`` is a ClassTop client of the site: one in the registry (``kind`` ``legacy``) or an
    approved one. (A client still pending does not count: anyone on the LAN can ask.)"""
    if AgentRows(store).kind(client_uuid) == AgentKind.LEGACY.value:
        return True
    return bool(store.query(
        "SELECT 1 FROM classtop_admissions WHERE client_uuid = ? AND approval = 'approved'", (client_uuid,)
    ))  # fmt: skip
