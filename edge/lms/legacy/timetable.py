"""ClassTop timetables kept on the LMS: one full snapshot (courses + schedule entries) per client.

Written by the HTTP sync endpoints of unchanged ClassTop clients (``POST /api/sync``: each upload replaces
that client's data, ids absent from it are deleted) and by our agents' ``classtop.snapshot`` events (applied
only when newer: another ``epoch`` or a greater ``version``; the same ``hash`` is a no-op). Ids are always
the client's own. Every write is one transaction: a bad upload leaves the stored snapshot as it was.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field, ValidationError

from edge.lms.errors import LmsError
from edge.lms.store import Store
from shared.classtop_wire import ClientRegistration, SyncCourse, SyncEntry, SyncTimetable, SyncUpload
from shared.messages import Event

log = logging.getLogger(__name__)

#: Schema version 3: the ClassTop data of each client (HTTP sync of ClassTop clients, classtop.snapshot of agents).
TIMETABLE_TABLES_V3 = (
    """CREATE TABLE IF NOT EXISTS classtop_clients (
            client_uuid TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            api_url TEXT NOT NULL DEFAULT '',
            registered_at REAL,
            synced_at REAL,
            source TEXT,
            epoch TEXT,
            version INTEGER,
            hash TEXT
        )""",
    """CREATE TABLE IF NOT EXISTS classtop_courses (
            client_uuid TEXT NOT NULL,
            id INTEGER NOT NULL,
            name TEXT NOT NULL,
            teacher TEXT NOT NULL,
            location TEXT NOT NULL,
            color TEXT NOT NULL,
            note TEXT,
            PRIMARY KEY (client_uuid, id)
        )""",
    """CREATE TABLE IF NOT EXISTS classtop_entries (
            client_uuid TEXT NOT NULL,
            id INTEGER NOT NULL,
            course_id INTEGER NOT NULL,
            day_of_week INTEGER NOT NULL,
            start_time TEXT NOT NULL,
            end_time TEXT NOT NULL,
            weeks TEXT NOT NULL,
            PRIMARY KEY (client_uuid, id)
        )""",
)

class TimetableError(LmsError):
    """Bad input (``status`` 422) or an unknown client (404)."""


class Timetables:
    """The service behind the sync endpoints (thread-safe: the store serialises)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def register(self, body: ClientRegistration) -> dict[str, Any]:
        """Idempotent: a known uuid keeps its data; a non-empty name/api_url is updated."""
        now = time.time()
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO classtop_clients (client_uuid, name, api_url, registered_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(client_uuid) DO UPDATE SET registered_at = excluded.registered_at, "
                "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE classtop_clients.name END, "
                "api_url = CASE WHEN excluded.api_url != '' THEN excluded.api_url ELSE classtop_clients.api_url END",
                (body.uuid, body.name, body.api_url, now),
            )
        return {"uuid": body.uuid, "registered_at": now}

    def replace(self, client_uuid: str, courses: list[SyncCourse], entries: list[SyncEntry], *,
                source: str = "http", epoch: str | None = None, version: int | None = None,
                hash_: str | None = None) -> tuple[int, int]:  # fmt: skip
        """Replace the client's whole timetable in one transaction. Returns (courses, entries) stored."""
        now = time.time()
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO classtop_clients (client_uuid, synced_at, source, epoch, version, hash) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(client_uuid) DO UPDATE SET synced_at = excluded.synced_at, "
                "source = excluded.source, epoch = excluded.epoch, version = excluded.version, hash = excluded.hash",
                (client_uuid, now, source, epoch, version, hash_),
            )
            conn.execute("DELETE FROM classtop_courses WHERE client_uuid = ?", (client_uuid,))
            conn.execute("DELETE FROM classtop_entries WHERE client_uuid = ?", (client_uuid,))
            conn.executemany(
                "INSERT INTO classtop_courses (client_uuid, id, name, teacher, location, color, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(client_uuid, c.id, c.name, c.teacher, c.location, c.color, c.note)
                 for c in courses],
            )
            conn.executemany(
                "INSERT INTO classtop_entries (client_uuid, id, course_id, day_of_week, start_time, end_time, weeks) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(client_uuid, e.id, e.course_id, e.day_of_week, e.start_time, e.end_time, json.dumps(e.weeks))
                 for e in entries],
            )
        return len(courses), len(entries)

    def sync(self, body: SyncUpload) -> dict[str, int]:
        courses, entries = self.replace(body.client_uuid, body.courses, body.schedule_entries)
        return {"synced_courses": courses, "synced_entries": entries}

    def courses(self, client_uuid: str) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT id, name, teacher, location, color, note FROM classtop_courses WHERE client_uuid = ? ORDER BY id",
            (client_uuid,),
        )
        return [
            {"id": r[0], "name": r[1], "teacher": r[2] or "", "location": r[3] or "", "color": r[4] or "",
             "note": r[5]}
            for r in rows
        ]  # fmt: skip

    def schedule(self, client_uuid: str) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT id, course_id, day_of_week, start_time, end_time, weeks FROM classtop_entries "
            "WHERE client_uuid = ? ORDER BY id",
            (client_uuid,),
        )
        out = []
        for r in rows:
            try:
                weeks = json.loads(r[5])
            except ValueError:
                weeks = []
            out.append({"id": r[0], "course_id": r[1], "day_of_week": r[2], "start_time": r[3], "end_time": r[4],
                        "weeks": weeks if isinstance(weeks, list) else []})  # fmt: skip
        return out

    def synced_since(self, since: float) -> list[tuple[str, float, str | None, str | None, int | None, str | None]]:
        """``(client_uuid, synced_at, source, epoch, version, hash)`` of the timetables written since ``since``."""
        rows = self._store.query(
            "SELECT client_uuid, synced_at, source, epoch, version, hash FROM classtop_clients "
            "WHERE synced_at IS NOT NULL AND synced_at >= ?",
            (since,),
        )
        return [(r[0], float(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    # ------------------------------------------------------------ agents' classtop.snapshot events

    def apply_snapshot(self, agent_id: str, data: dict[str, Any]) -> bool:
        """An agent's ``classtop.snapshot``: applied only when newer. Returns whether it was applied.

        Raises :class:`TimetableError` for a malformed snapshot (nothing is written then).
        """
        try:
            snap = _Snapshot.model_validate(data)
        except ValidationError as exc:
            raise TimetableError(f"bad classtop.snapshot from {agent_id}: {exc.error_count()} error(s)") from None
        rows = self._store.query(
            "SELECT epoch, version, hash FROM classtop_clients WHERE client_uuid = ?", (agent_id,)
        )
        if rows:
            epoch, version, hash_ = rows[0]
            if epoch == snap.epoch and (version is not None and snap.version <= version):
                return False
            if epoch == snap.epoch and hash_ == snap.hash:
                return False
        self.replace(agent_id, snap.courses, snap.schedule_entries, source="agent", epoch=snap.epoch,
                     version=snap.version, hash_=snap.hash)  # fmt: skip
        return True


class _Snapshot(SyncTimetable):
    epoch: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=0)
    hash: str = Field(min_length=1, max_length=128)


SNAPSHOT_EVENT = "classtop.snapshot"


def snapshot_listener(timetables: Timetables) -> Callable[[str, Event], None]:
    """A registry event listener that lands agents' ``classtop.snapshot`` events in the timetable store."""

    def on_event(agent_id: str, event: Event) -> None:
        if event.kind != SNAPSHOT_EVENT:
            return
        try:
            if timetables.apply_snapshot(agent_id, event.data):
                log.info("classtop snapshot of %s applied (version %s)", agent_id, event.data.get("version"))
        except TimetableError as exc:
            log.warning("%s", exc.message)

    return on_event
