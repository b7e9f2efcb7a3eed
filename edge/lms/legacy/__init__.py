"""Unchanged ClassTop desktop clients on the LMS ([docs/classtop.md](../../../docs/classtop.md)).

* :mod:`.timetable` — the five HTTP sync endpoints' data (full snapshots per client, in SQLite), also fed by
  our agents' ``classtop.snapshot`` events;
* :mod:`.protocol` — the client's WebSocket frames and the commands it can run (with the CCTV mapping);
* :mod:`.hub` — the ``/ws/{client_uuid}`` connections: presence, settings cache, commands through the
  router (it is the router's transport for ``kind = legacy``), camera preview frames;
* :mod:`.admission` — who may be a ClassTop client (decisions in :mod:`.admission_rows`); :mod:`.ratelimit` —
  rates per source address and connection.
"""

from __future__ import annotations

from edge.lms.legacy.admission import Admissions, Refused
from edge.lms.legacy.admission_rows import Admission, Approval, is_classtop_client
from edge.lms.legacy.hub import LegacyHub
from edge.lms.legacy.protocol import MAX_FRAME_BYTES
from edge.lms.legacy.ratelimit import RateLimiter
from edge.lms.legacy.timetable import TimetableError, Timetables, snapshot_listener

__all__ = [
    "MAX_FRAME_BYTES",
    "Admission",
    "Admissions",
    "Approval",
    "LegacyHub",
    "RateLimiter",
    "Refused",
    "TimetableError",
    "Timetables",
    "is_classtop_client",
    "snapshot_listener",
]
