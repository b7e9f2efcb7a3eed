"""The LMS's one migration list (``edge.lms.schema``): a database of every earlier version, built from the list
itself and filled with rows, migrates to the newest version with every row kept and the same tables and indexes
as a new database; the enrolment tables an LMS created outside the versioned migrations are taken as they are."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge.lms.enrolment.enrolment_rows import ENROLMENT_TABLES_V9
from edge.lms.schema import MIGRATIONS, SCHEMA_VERSION
from edge.lms.store import Migration, Store, StoreError
from edge.lms.store.database import apply_step


def tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")
    return [r[0] for r in rows]


def schema(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """Every table and index: (type, name)."""
    rows = conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    return {(r[0], r[1]) for r in rows}


def value(table: str, column: str, kind: str, n: int) -> Any:
    if "INT" in kind or "BOOL" in kind:
        return n
    if "REAL" in kind:
        return n + 0.5
    if "BLOB" in kind:
        return f"{table}.{column}.{n}".encode()
    return f"{table}.{column}.{n}"


def fill(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Two rows in every table (every column set); what each table holds then."""
    kept: dict[str, list[tuple[Any, ...]]] = {}
    for table in tables(conn):
        columns = [(r[1], r[2].upper()) for r in conn.execute(f"PRAGMA table_info({table})")]
        for n in (1, 2):
            values = [value(table, name, kind, n) for name, kind in columns]
            marks = ", ".join("?" * len(columns))
            conn.execute(f"INSERT INTO {table} ({', '.join(c for c, _ in columns)}) VALUES ({marks})", values)
        kept[table] = conn.execute(f"SELECT {', '.join(c for c, _ in columns)} FROM {table} ORDER BY rowid").fetchall()
    return kept


def test_the_list_is_numbered_in_order_and_every_step_can_run_twice(tmp_path: Path) -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    with Store(tmp_path / "lms.db") as store:
        assert store.user_version() == SCHEMA_VERSION
        with store.transaction() as conn:  # IF NOT EXISTS / OR IGNORE everywhere: a step that ran again is harmless
            for migration in MIGRATIONS:
                for statement in migration.statements:
                    apply_step(conn, statement)


@pytest.mark.parametrize("enrolment_tables_made_before", [False, True], ids=["plain", "enrolment-tables-existed"])
@pytest.mark.parametrize("version", range(SCHEMA_VERSION))
def test_a_database_of_every_earlier_version_migrates_with_its_data(
    tmp_path: Path, version: int, enrolment_tables_made_before: bool
) -> None:
    with Store(tmp_path / "new.db") as new:
        newest = schema(new.conn)
    path = tmp_path / "old.db"
    with Store(path, MIGRATIONS[:version]) as old:
        assert old.user_version() == version
        with old.transaction() as conn:
            if enrolment_tables_made_before:  # as enrolment did before its tables were migration 9
                for statement in ENROLMENT_TABLES_V9:
                    conn.execute(statement)
            kept = fill(conn)
    with Store(path) as migrated:
        conn = migrated.conn
        assert migrated.user_version() == SCHEMA_VERSION
        assert schema(conn) == newest
        for table, rows in kept.items():
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")][: len(rows[0])]  # added ones last
            assert conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid").fetchall()[:2] == rows


def test_a_gap_in_the_list_is_refused(tmp_path: Path) -> None:
    gap = [MIGRATIONS[0], Migration(3, "three", ())]
    with pytest.raises(ValueError, match=r"1\.\.N"):
        Store(tmp_path / "lms.db", gap).open()


def test_a_database_newer_than_the_list_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "lms.db").open().close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "lms.db", MIGRATIONS[:-1]).open()


def test_a_column_added_again_is_left_as_it_is(tmp_path: Path) -> None:
    with Store(tmp_path / "lms.db") as store, store.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (a TEXT)")
        apply_step(conn, "ALTER TABLE t ADD COLUMN b REAL")
        apply_step(conn, "alter table t add column b REAL")
        assert [row[1] for row in conn.execute("PRAGMA table_info(t)")] == ["a", "b"]
        with pytest.raises(sqlite3.OperationalError, match="no such table"):  # runs as written when not there
            apply_step(conn, "ALTER TABLE missing ADD COLUMN b REAL")
