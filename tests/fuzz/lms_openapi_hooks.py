"""schemathesis hooks of the LMS's fuzz run (``SCHEMATHESIS_HOOKS``).

* Never revoke the token the run holds: ``DELETE /api/tokens/{token_id}`` with the id of the admin token
  schemathesis authenticates with would end the run (every later request a 401), not test the LMS; every other id
  is fuzzed. The id comes in ``CT_FUZZ_OWN_TOKEN_ID``.
* Give a valid case the rules JSON Schema cannot state (the document says them in words): the ids of the courses
  and of the schedule entries of a ClassTop sync are unique (``shared.classtop_wire.SyncTimetable``), and those
  of tests/fuzz/openapi_repairs.py (fields compared with each other, with the path, with stored state or the
  clock); a webhook URL the LMS's host check refuses is replaced (below). Only cases generated as valid are
  repaired; an invalid one keeps whatever makes it invalid.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from schemathesis import GenerationMode

from edge.lms.alerts import AlertError
from edge.lms.alerts.site_webhook import check_webhook_url
from tests.fuzz import openapi_repairs as repairs

OWN_TOKEN_ID = os.environ.get("CT_FUZZ_OWN_TOKEN_ID", "")


@schemathesis.hook
def filter_case(_context: Any, case: Any) -> bool:
    revokes = case.method.upper() == "DELETE" and case.operation.path == "/api/tokens/{token_id}"
    return not (revokes and str((case.path_parameters or {}).get("token_id")) == OWN_TOKEN_ID)


@schemathesis.hook
def map_case(_context: Any, case: Any) -> Any:
    meta = case.meta
    if (meta is not None and meta.generation.mode is not GenerationMode.POSITIVE) or not isinstance(case.body, dict):
        return case
    body, path = case.body, case.operation.path
    params = body.get("params")
    if body.get("command") == "set_schedule" and isinstance(params, dict):
        for entry in params.get("schedule_entries") or []:
            repairs.end_after_start(entry)
    if path == "/api/sync":
        for name in ("courses", "schedule_entries"):
            _unique_ids(body.get(name) or [])
    if path in ("/api/alerts/rules", "/api/alerts/rules/{rule_id}"):
        repairs.site_alert_rule(body, (case.path_parameters or {}).get("rule_id"))
    if path == "/api/alerts/maintenance":
        repairs.maintenance_window(body)
    if path == "/api/alerts/webhook" and isinstance(body.get("url"), str):
        _webhook_url(body)
        quiet = body.get("quiet_hours")
        if isinstance(quiet, dict) and quiet.get("start") == quiet.get("end") == "00:00":  # two fields compared
            quiet["end"] = "06:00"
        elif isinstance(quiet, dict) and quiet.get("start") == quiet.get("end"):
            quiet["start"] = "00:00"
    return case


def _webhook_url(body: dict[str, Any]) -> None:
    """Where a webhook URL points (an https host that is not link-local, multicast or unspecified; plain http only
    to loopback in local/dev mode) is checked on the host, not on the URL's shape: a URL the LMS's own check refuses
    becomes one it takes."""
    try:
        check_webhook_url(body["url"].strip(), local_dev=False)
    except AlertError:
        body["url"] = "https://hooks.example.com/classtop"


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
