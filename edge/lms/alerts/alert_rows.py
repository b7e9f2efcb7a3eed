"""The alerts' tables and the repository of alerts (:class:`AlertBook`): open alerts and their history.

Every alert change is one upsert of its :class:`~shared.messages.alert.AlertRecord` (the whole record as JSON
beside the columns the queries filter on). Resolved alerts are history, pruned after the retention period.
"""

from __future__ import annotations

import json
from typing import Any

from edge.lms.store import Store
from edge.lms.store.records import Where
from shared.messages.alert import AlertRecord, AlertState

#: Schema version 14: site rules, alerts (open and history), silences, maintenance windows, webhook deliveries.
ALERT_TABLES_V14 = (
    """CREATE TABLE IF NOT EXISTS alert_rules (
            rule_id TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            updated_at REAL NOT NULL,
            updated_by TEXT NOT NULL
        )""",
    """CREATE TABLE IF NOT EXISTS alerts (
            alert_id TEXT PRIMARY KEY,
            key TEXT NOT NULL,
            seq INTEGER NOT NULL,
            state TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            agent_id TEXT,
            severity TEXT NOT NULL,
            opened_at REAL NOT NULL,
            changed_at REAL NOT NULL,
            record TEXT NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS alerts_open ON alerts (state, key)",
    "CREATE INDEX IF NOT EXISTS alerts_changed ON alerts (changed_at)",
    """CREATE TABLE IF NOT EXISTS alert_silences (
            silence_id INTEGER PRIMARY KEY AUTOINCREMENT,
            rule_id TEXT,
            agent_id TEXT,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )""",
    """CREATE TABLE IF NOT EXISTS alert_maintenance (
            window_id INTEGER PRIMARY KEY AUTOINCREMENT,
            scope TEXT NOT NULL,
            starts_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
    """CREATE TABLE IF NOT EXISTS alert_deliveries (
            delivery_id TEXT PRIMARY KEY,
            alert_id TEXT NOT NULL,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at REAL NOT NULL,
            last_error TEXT,
            created_at REAL NOT NULL
        )""",
    "CREATE INDEX IF NOT EXISTS alert_deliveries_state ON alert_deliveries (state, next_at)",
)

OPEN_STATES = (AlertState.FIRING.value, AlertState.ACKNOWLEDGED.value)


class AlertBook:
    """Alerts in SQLite: :meth:`save` each change, :meth:`open_alerts` at start, queries for the API."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, record: AlertRecord) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO alerts (alert_id, key, seq, state, rule_id, agent_id, severity, opened_at, changed_at, "
                "record) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(alert_id) DO UPDATE SET seq = excluded.seq, "
                "state = excluded.state, severity = excluded.severity, changed_at = excluded.changed_at, "
                "record = excluded.record",
                (record.alert_id, record.key, record.seq, record.state.value, record.rule_id, record.target.agent_id,
                 record.severity.value, record.opened_at, record.changed_at, record.model_dump_json()),
            )  # fmt: skip

    def open_alerts(self) -> list[AlertRecord]:
        rows = self._store.query("SELECT record FROM alerts WHERE state IN (?, ?) ORDER BY opened_at", OPEN_STATES)
        return [AlertRecord.model_validate_json(r[0]) for r in rows]

    def get(self, alert_id: str) -> AlertRecord | None:
        rows = self._store.query("SELECT record FROM alerts WHERE alert_id = ?", (alert_id,))
        return AlertRecord.model_validate_json(rows[0][0]) if rows else None

    def list(
        self, *, state: str | None = None, agent_id: str | None = None, rule_id: str | None = None,
        severity: str | None = None, since: float | None = None, limit: int = 100,
    ) -> list[dict[str, Any]]:  # fmt: skip
        where = Where().equal("agent_id", agent_id).equal("rule_id", rule_id).equal("severity", severity)
        where = where.at_least("changed_at", since)
        where = where.add("state IN (?, ?)", *OPEN_STATES) if state == "open" else where.equal("state", state)
        sql, args = where.sql, where.args
        rows = self._store.query(f"SELECT record FROM alerts{sql} ORDER BY changed_at DESC LIMIT ?", [*args, limit])
        return [json.loads(r[0]) for r in rows]

    def prune(self, before: float) -> int:
        """Forget resolved alerts that changed last before ``before`` (the history's retention)."""
        with self._store.transaction() as conn:
            cur = conn.execute("DELETE FROM alerts WHERE state = ? AND changed_at < ?",
                               (AlertState.RESOLVED.value, before))  # fmt: skip
            conn.execute("DELETE FROM alert_deliveries WHERE state = 'sent' AND created_at < ?", (before,))
        return cur.rowcount
