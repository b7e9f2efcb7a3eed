"""Silences and maintenance windows: what keeps an alert quiet for a while.

* A **silence** (a rule, an agent, or both; until ``expires_at``) keeps matching alerts from notifying: they still
  open, resolve, show on site and reach the cloud.
* A **maintenance window** (a scope of groups, tags or agents, or the whole site; from ``starts_at`` to
  ``ends_at``) keeps matching alerts from opening at all: a condition still true when the window ends fires then.

Both are kept in SQLite and cached in memory (read on every evaluation); expired ones are ignored and pruned.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field, ValidationError, model_validator

from edge.lms.alerts.alert_errors import AlertError
from edge.lms.alerts.rule_book import SiteLabels, scope_covers
from edge.lms.store import Store
from shared.messages.alert import MAX_DURATION_S, RuleScope
from shared.messages.base import Strict, describe_validation_error
from shared.topics import ID_PATTERN

#: Silences and windows at once (each is checked on every alert change).
MAX_SUPPRESSIONS = 500


log = logging.getLogger(__name__)


class SilenceBody(Strict):
    """``POST /api/alerts/silences``: silence a rule, an agent, or a rule on one agent, for ``duration_s``."""

    rule_id: str | None = Field(default=None, pattern=ID_PATTERN)
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    duration_s: float = Field(gt=0, le=MAX_DURATION_S, description="seconds from now until the silence expires")
    reason: str = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _something(self) -> SilenceBody:
        if self.rule_id is None and self.agent_id is None:
            raise ValueError("a silence names a rule_id, an agent_id or both")
        return self


class MaintenanceBody(Strict):
    """``POST /api/alerts/maintenance``: no alert opens for the scope's agents between ``starts_at`` and
    ``ends_at`` (an empty scope: the whole site)."""

    scope: RuleScope = Field(default_factory=RuleScope)
    starts_at: float = Field(ge=0, le=1e11)
    ends_at: float = Field(ge=0, le=1e11)
    reason: str = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _order(self) -> MaintenanceBody:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_DURATION_S:
            raise ValueError("a maintenance window lasts at most 7 days")
        if self.scope.sites is not None:
            raise ValueError("scope.sites is for tenant rules; a window covers this site only")
        return self


class Suppressions:
    """Silences and maintenance windows (thread-safe)."""

    def __init__(self, store: Store, labels: SiteLabels, *, site_id: str,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._store = store
        self._labels = labels
        self._site_id = site_id
        self._clock = clock
        self._lock = threading.Lock()
        self._silences: list[dict[str, Any]] = []
        self._windows: list[dict[str, Any]] = []

    def load(self) -> Suppressions:
        now = self._clock()
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM alert_silences WHERE expires_at < ?", (now,))
            conn.execute("DELETE FROM alert_maintenance WHERE ends_at < ?", (now,))
        silences = self._store.select(
            "SELECT silence_id, rule_id, agent_id, reason, created_by, created_at, expires_at FROM alert_silences "
            "ORDER BY silence_id", (), ("silence_id", "rule_id", "agent_id", "reason", "created_by", "created_at",
                                        "expires_at"))  # fmt: skip
        windows = self._store.select(
            "SELECT window_id, scope, starts_at, ends_at, reason, created_by FROM alert_maintenance ORDER BY window_id",
            (), ("window_id", "scope", "starts_at", "ends_at", "reason", "created_by"), json_keys=("scope",))
        usable = []
        for w in windows:
            try:
                w["_scope"] = RuleScope.model_validate(w["scope"])
            except ValidationError as exc:  # a row not written by this LMS: logged and left out, never fatal
                log.warning("alerts: maintenance window %s has an unreadable scope, ignored: %s", w["window_id"],
                            describe_validation_error(exc))  # fmt: skip
                continue
            usable.append(w)
        windows = usable
        with self._lock:
            self._silences, self._windows = silences, windows
        return self

    # ------------------------------------------------------------ queries (every alert change)

    def silenced(self, rule_id: str, agent_id: str | None) -> bool:
        now = self._clock()
        with self._lock:
            return any(s["expires_at"] > now and s["rule_id"] in (None, rule_id)
                       and s["agent_id"] in (None, agent_id) for s in self._silences)  # fmt: skip

    def in_maintenance(self, agent_id: str | None) -> bool:
        now = self._clock()
        with self._lock:
            windows = [w for w in self._windows if w["starts_at"] <= now < w["ends_at"]]
        if not windows:
            return False
        groups, tags = self._labels.labels(agent_id) if agent_id else (frozenset(), frozenset())
        return any(scope_covers(w["_scope"], self._site_id, agent_id, groups, tags) for w in windows)

    # ------------------------------------------------------------ the API's

    def silences(self) -> list[dict[str, Any]]:
        now = self._clock()
        with self._lock:
            return [dict(s) for s in self._silences if s["expires_at"] > now]

    def windows(self) -> list[dict[str, Any]]:
        now = self._clock()
        with self._lock:
            return [{k: v for k, v in w.items() if k != "_scope"} for w in self._windows if w["ends_at"] > now]

    def add_silence(self, body: SilenceBody, *, by: str) -> dict[str, Any]:
        self._room()
        now = self._clock()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO alert_silences (rule_id, agent_id, reason, created_by, created_at, expires_at) "
                "VALUES (?,?,?,?,?,?)", (body.rule_id, body.agent_id, body.reason, by, now, now + body.duration_s))
        self.load()
        return {"silence_id": cur.lastrowid, "rule_id": body.rule_id, "agent_id": body.agent_id,
                "reason": body.reason, "created_by": by, "created_at": now, "expires_at": now + body.duration_s}

    def delete_silence(self, silence_id: int) -> None:
        with self._store.transaction() as conn:
            cur = conn.execute("DELETE FROM alert_silences WHERE silence_id = ?", (silence_id,))
        if cur.rowcount == 0:
            raise AlertError(f"no silence {silence_id}", 404)
        self.load()

    def add_window(self, body: MaintenanceBody, *, by: str) -> dict[str, Any]:
        if body.ends_at <= self._clock():
            raise AlertError("the maintenance window has ended already")
        self._room()
        scope = body.scope.model_dump_json(exclude_none=True)
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO alert_maintenance (scope, starts_at, ends_at, reason, created_by) VALUES (?,?,?,?,?)",
                (scope, body.starts_at, body.ends_at, body.reason, by))
        self.load()
        return {"window_id": cur.lastrowid, "scope": body.scope.model_dump(exclude_none=True),
                "starts_at": body.starts_at, "ends_at": body.ends_at, "reason": body.reason, "created_by": by}

    def delete_window(self, window_id: int) -> None:
        with self._store.transaction() as conn:
            cur = conn.execute("DELETE FROM alert_maintenance WHERE window_id = ?", (window_id,))
        if cur.rowcount == 0:
            raise AlertError(f"no maintenance window {window_id}", 404)
        self.load()

    def _room(self) -> None:
        with self._lock:
            if len(self._silences) + len(self._windows) >= MAX_SUPPRESSIONS:
                raise AlertError(f"at most {MAX_SUPPRESSIONS} silences and maintenance windows at once", 409)
