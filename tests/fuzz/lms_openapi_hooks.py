"""schemathesis hooks of the LMS's fuzz run (``SCHEMATHESIS_HOOKS``).

* Never revoke the token the run holds: ``DELETE /api/tokens/{token_id}`` with the id of the admin token
  schemathesis authenticates with would end the run (every later request a 401), not test the LMS; every other id
  is fuzzed. The id comes in ``CT_FUZZ_OWN_TOKEN_ID``.
* Give a valid case the two rules across items that JSON Schema cannot state (the document says them in words):
  a schedule entry ends after it starts (``shared.commands.ScheduleEntry``), and the ids of the courses and of the
  schedule entries of a ClassTop sync are unique (``shared.classtop_wire.SyncTimetable``). Only cases generated
  as valid are repaired; an invalid one keeps whatever makes it invalid.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from schemathesis import GenerationMode

OWN_TOKEN_ID = os.environ.get("CT_FUZZ_OWN_TOKEN_ID", "")
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@schemathesis.hook
def filter_case(_context: Any, case: Any) -> bool:
    revokes = case.method.upper() == "DELETE" and case.operation.path == "/api/tokens/{token_id}"
    return not (revokes and str((case.path_parameters or {}).get("token_id")) == OWN_TOKEN_ID)


@schemathesis.hook
def map_case(_context: Any, case: Any) -> Any:
    meta = case.meta
    if (meta is not None and meta.generation.mode is not GenerationMode.POSITIVE) or not isinstance(case.body, dict):
        return case
    body = case.body
    params = body.get("params")
    if body.get("command") == "set_schedule" and isinstance(params, dict):
        for entry in params.get("schedule_entries") or []:
            _end_after_start(entry)
    if case.operation.path == "/api/sync":
        for name in ("courses", "schedule_entries"):
            _unique_ids(body.get(name) or [])
    return case


def _end_after_start(entry: Any) -> None:
    start, end = entry.get("start_time"), entry.get("end_time")
    if not (isinstance(start, str) and isinstance(end, str) and TIME.match(start) and TIME.match(end)):
        return
    if end < start:
        entry["start_time"], entry["end_time"] = end, start
    elif end == start:
        entry["start_time"], entry["end_time"] = ("00:00", "23:59") if start != "00:00" else ("00:00", "00:01")


def _unique_ids(items: list[Any]) -> None:
    seen: set[int] = set()
    for item in items:
        given = item.get("id") if isinstance(item, dict) else None
        if isinstance(given, int | float) and not isinstance(given, bool) and float(given).is_integer():
            new = int(given)
            while new in seen:
                new = new + 1 if new < 2**53 else 0
            item["id"] = new
            seen.add(new)
