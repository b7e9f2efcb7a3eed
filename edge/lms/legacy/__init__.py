"""Unchanged ClassTop desktop clients on the LMS (CLASSTOP-COMPAT.md).

* :mod:`.timetable` — the five HTTP sync endpoints' data (full snapshots per client, in SQLite), also fed by
  our agents' ``classtop.snapshot`` events;
* :mod:`.protocol` — the client's WebSocket frames and the commands it can run (with the CCTV mapping);
* :mod:`.hub` — the ``/ws/{client_uuid}`` connections: presence, settings cache, commands through the
  router (it is the router's transport for ``kind = legacy``), camera preview frames.
"""

from __future__ import annotations
