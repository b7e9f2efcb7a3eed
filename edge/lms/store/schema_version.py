"""Which schema version a database file has, read without changing anything (no WAL switch, no ``-shm`` file, no
migration): what the LMS and its command line check first, so that a database written by a newer LMS is refused
whole rather than half-opened (docs/operations.md#site-operations-upgrade-the-lms)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from edge.lms.store.store_error import StoreError


class SchemaTooNew(StoreError):
    """The database was written by a newer LMS (``found`` > ``known``); nothing was changed."""

    def __init__(self, path: Path, found: int, known: int, *, written_by: str | None, version: str) -> None:
        by = f"LMS {written_by}" if written_by else "a newer LMS"
        super().__init__(
            f"database {path} has schema version {found}, written by {by}; this LMS {version} knows schema "
            f"versions up to {known}. Going back a version is not supported: run the LMS version that wrote it "
            f"again, or restore a backup made by LMS {version} or older onto a fresh data directory "
            "(docs/operations.md). Nothing was changed."
        )
        self.found, self.known, self.written_by = found, known, written_by


def stored_schema(path: Path) -> tuple[int, str | None] | None:
    """(``PRAGMA user_version``, the LMS version recorded in ``lms_config``) of the database at ``path``; ``None``
    when there is no file. A database whose ``-wal`` holds changes is read through SQLite read-only; else as an
    immutable file (SQLite then writes nothing beside it)."""
    if not path.exists():
        return None
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "immutable=1"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?{mode}", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from None
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        try:
            row = conn.execute("SELECT value FROM lms_config WHERE key = 'lms_version'").fetchone()
        except sqlite3.Error:  # no lms_config table (an empty or foreign file)
            row = None
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read database {path}: {exc}") from None
    finally:
        conn.close()
    return version, (str(row[0]) if row and row[0] is not None else None)


def check_schema(path: Path, known: int, *, version: str) -> int | None:
    """The database's schema version (``None``: no database yet); :class:`SchemaTooNew` when above ``known``."""
    stored = stored_schema(path)
    if stored is None:
        return None
    found, written_by = stored
    if found > known:
        raise SchemaTooNew(path, found, known, written_by=written_by, version=version)
    return found
