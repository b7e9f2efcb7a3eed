"""Repairs of schema-valid cases for the rules an OpenAPI document cannot state (issue 17), shared by the LMS's
schemathesis hooks (tests/fuzz/lms_openapi_hooks.py) and the cloud's run (tests/fuzz/test_fuzz_cloud_openapi.py).

Only a case generated as valid is repaired, and only where the server checks something JSON Schema cannot say; each
function says which rule and why the document cannot state it (the document states it in words, and the server
answers a documented 4xx: the repair keeps "a valid request is accepted" meaningful for the rest of the body):

* **fields compared with each other** (JSON Schema has no keyword that compares two values): a schedule entry ends
  after it starts (``shared.commands.ScheduleEntry``); a maintenance window ends after it starts and lasts at most
  7 days; an alert condition's hysteresis (``clear`` on the right side of ``threshold``, ``clear_rate`` not above
  ``rate``) and a percentage metric's bounds (which depend on the metric's name);
* **the body compared with the path**: ``PUT .../rules/{rule_id}`` names the rule twice;
* **stored state or the clock**: an LMS rule's scope names groups, tags or agents the site has (the run's LMS has
  none), a tenant rule's sites exist and its agents are in them (the run's cloud has none), and a maintenance window
  must not have ended already.

And one repair of the tool's own: schemathesis percent-decodes a generated path value before it encodes it (to
keep already-encoded input as it is), so a valid e-mail whose local part holds ``%`` and two hex digits (``vf%f94@…``,
which the pattern allows) is sent as another string (``vf\ufffd4@…``, not an e-mail): :func:`path_email` sends the
value it meant, encoded as a browser encodes it.

(What JSON Schema can state is in the documents instead: an LMS's site rule covers this site only and has a kind
an LMS evaluates; a silence names a rule or an agent; a challenge's answer; each alert channel kind's address.)
"""

from __future__ import annotations

import re
import time
from typing import Any, TypeGuard
from urllib.parse import quote, unquote

from shared.messages.alert import PERCENT_METRICS

TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def end_after_start(entry: Any) -> None:
    """A schedule entry's ``end_time`` after its ``start_time`` (``HH:MM`` strings)."""
    if not isinstance(entry, dict):
        return
    start, end = entry.get("start_time"), entry.get("end_time")
    if not (isinstance(start, str) and isinstance(end, str) and TIME.match(start) and TIME.match(end)):
        return
    if end < start:
        entry["start_time"], entry["end_time"] = end, start
    elif end == start:
        entry["start_time"], entry["end_time"] = ("00:00", "23:59") if start != "00:00" else ("00:00", "00:01")


def alert_condition(condition: Any) -> None:
    """An alert condition's cross-field rules (``shared.messages.alert``): hysteresis and percentage bounds."""
    if not isinstance(condition, dict):
        return
    if condition.get("kind") == "metric_threshold":
        threshold, clear = condition.get("threshold"), condition.get("clear")
        if not (_number(threshold) and _number(clear)):
            return
        if condition.get("metric") in {m.value for m in PERCENT_METRICS}:
            threshold, clear = min(threshold, 100), min(clear, 100)
        below = condition.get("op") == "below"
        condition["threshold"], condition["clear"] = threshold, (max(clear, threshold) if below
                                                                 else min(clear, threshold))  # fmt: skip
    if condition.get("kind") == "command_failure_rate":
        rate, clear_rate = condition.get("rate", 0.5), condition.get("clear_rate", 0.25)
        if _number(rate) and _number(clear_rate) and clear_rate > rate:
            condition["clear_rate"] = rate


def site_alert_rule(rule: Any, path_rule_id: Any = None) -> None:
    """An LMS's site rule: the path's rule id, the condition's rules, and no scope (a scope names the site's agents,
    groups and tags, and the run's LMS has none: stored state)."""
    if not isinstance(rule, dict):
        return
    cloud_rule(rule, path_rule_id)
    rule.pop("scope", None)


def cloud_rule(rule: Any, path_rule_id: Any = None) -> None:
    """A rule: the path's rule id, the condition's rules, and neither sites nor agents in its scope (a tenant rule's
    sites must exist and its agents be in them, and the run's cloud has neither: stored state)."""
    if not isinstance(rule, dict):
        return
    if path_rule_id is not None:
        rule["rule_id"] = str(path_rule_id)
    alert_condition(rule.get("condition"))
    if isinstance(rule.get("scope"), dict):
        rule["scope"].pop("agents", None)
        rule["scope"].pop("sites", None)


def maintenance_window(body: Any) -> None:
    """A window that has not ended, ends after it starts and lasts at most 7 days (the clock and two fields)."""
    if isinstance(body, dict) and _number(body.get("starts_at")) and _number(body.get("ends_at")):
        body["starts_at"] = float(int(time.time()))
        body["ends_at"] = body["starts_at"] + 3600.0


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def path_email(value: str, pattern: str) -> str:
    """The e-mail path value schemathesis meant (see the module docstring), percent-encoded; ``value`` unchanged when
    it decodes to an e-mail (``pattern``) or when no repair makes it one."""
    decoded = unquote(value)
    if re.fullmatch(pattern.removeprefix("^").removesuffix("$"), decoded):
        return value
    meant = "".join(c if c.isascii() else "%f9" for c in decoded)  # a byte it decoded from "%xx" became U+FFFD
    return quote(meant, safe="") if re.fullmatch(pattern.removeprefix("^").removesuffix("$"), meant) else value
