"""Upgrading the LMS: the new code started over an old version's data directory (a database built with only the
first N migrations of the one list, every table filled) runs the missing migrations, serves the old agents,
and keeps every row; ``backup`` of the upgraded site then records the new schema version."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from edge.lms.schema import MIGRATIONS, SCHEMA_VERSION
from edge.lms.store import Store
from tests.integration.lms.lms_harness import LmsFactory
from tests.unit.lms.test_lms_schema import fill

pytestmark = pytest.mark.integration


def _recent(conn: sqlite3.Connection, kept: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The filled rows with every REAL (time) column set to now, ends a day later (and enums to real values); what
    each table holds then."""
    now = time.time()
    if "classtop_admissions" in kept:  # an enum the LMS reads at start: a value a real LMS writes
        conn.execute("UPDATE classtop_admissions SET approval = 'pending'")
    for table, rows in kept.items():
        info = list(conn.execute(f"PRAGMA table_info({table})"))
        for column in [r[1] for r in info if "REAL" in r[2].upper()]:
            # an end (of a silence, a maintenance window...) a day ahead: the LMS drops ended ones at its start
            later = column in ("expires_at", "ends_at")
            conn.execute(f"UPDATE {table} SET {column} = ?", (now + 86400 if later else now,))
        names = ", ".join(r[1] for r in info)
        kept[table] = conn.execute(f"SELECT {names} FROM {table} ORDER BY rowid").fetchall()[: len(rows)]
    return kept


@pytest.mark.parametrize("version", [1, 5, SCHEMA_VERSION - 1])
def test_the_new_lms_over_an_old_database_migrates_it_and_keeps_every_row(
    lms_factory: LmsFactory, tmp_path: Path, version: int
) -> None:
    db = tmp_path / "lms.db"
    with Store(db, MIGRATIONS[:version]) as old, old.transaction() as conn:
        kept = _recent(conn, fill(conn))  # recent: the running LMS prunes old events and metrics by age
        conn.execute("INSERT INTO clients (uuid, name, first_seen, last_seen) VALUES ('pc-old', 'room 9', 1, 1)")
    lms = lms_factory(db_path=db)
    with lms.running(wait_cloud=False):
        info = lms.client_info("pc-old")
        assert info is not None and info["name"] == "room 9"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        for table, rows in kept.items():
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")][: len(rows[0])]
            stored = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid").fetchall()
            assert all(row in stored for row in rows), table
    finally:
        conn.close()
