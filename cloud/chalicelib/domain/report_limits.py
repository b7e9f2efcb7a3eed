"""The bounds of the read-only reports: how far back statistics reach and how many recent events an overview
shows. The routes declare them (their query parameters' bounds) and the services enforce them."""

from __future__ import annotations

#: ``GET /api/stats?days=``: the most days a statistics report covers
MAX_DAYS = 90
#: ``GET /api/overview?events=``: the most recent events an overview lists
MAX_RECENT_EVENTS = 50
