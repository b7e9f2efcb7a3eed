"""The LMS's SQLite database: one connection, shared by every feature, and its versioned schema.

* WAL mode, ``synchronous=NORMAL``: a committed row survives a crash of the LMS process (not necessarily a
  power cut of the mini-PC in the last moments); readers never block the writer. The WAL is cut back to
  :data:`WAL_KEEP_BYTES` after each checkpoint.
* One connection shared by all threads, serialised by a lock (SQLite serialises writers anyway).
* The schema is versioned with ``PRAGMA user_version``. Each feature declares its tables beside its queries;
  :data:`edge.lms.schema.MIGRATIONS` orders their steps, one :class:`Migration` per version, and :meth:`Store.open`
  applies the missing ones in order, each in one transaction.
* Times are wall-clock seconds since the epoch (REAL), as on the wire; the seed's table and column names are kept
  ([docs/seeds.md](../../../docs/seeds.md#tables)).
* The store's own table is ``lms_config`` (key/value: the site's identity, the features' high marks).
* A full disk (``SQLITE_FULL``) or a failing one (``SQLITE_IOERR``) refuses writes: the transaction is rolled back
  whole (nothing half-written), the caller gets the error (and keeps what it could not write, or refuses it), the
  log says so once per episode and again when writes work again, and :meth:`Store.write_health` (``GET
  /api/health``'s ``store``) reports it until a write succeeds.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.lms import __version__
from edge.lms.store.records import records
from edge.lms.store.schema_version import check_schema
from edge.lms.store.store_error import StoreError

__all__ = ["LMS_CONFIG_TABLE", "Migration", "Store", "StoreError", "WriteHealth", "check_migrations"]

log = logging.getLogger(__name__)

#: The store's own table (schema version 1).
LMS_CONFIG_TABLE = """CREATE TABLE IF NOT EXISTS lms_config (
            key TEXT PRIMARY KEY,
            value TEXT,
            updated_at REAL NOT NULL
        )"""


@dataclass(frozen=True, slots=True)
class Migration:
    """The statements that take the database from version ``version - 1`` to ``version``."""

    version: int
    what: str
    statements: tuple[str, ...]


_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\b", re.IGNORECASE)


def apply_step(conn: sqlite3.Connection, statement: str) -> None:
    """Run one migration step so that running it again is harmless: SQLite has no ``ADD COLUMN IF NOT EXISTS``,
    so a column that is there already is not added again (every other step says ``IF NOT EXISTS`` or ``OR
    IGNORE`` itself)."""
    added = _ADD_COLUMN.match(statement)
    if added is not None:
        table, column = added.groups()
        if any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})")):
            return
    conn.execute(statement)


#: the write-ahead log is cut back to this after a checkpoint (SQLite keeps its largest size otherwise: one burst
#: would hold that disk space for good)
WAL_KEEP_BYTES = 1 << 20

#: the least time between two log lines saying the database refuses writes (or takes them again)
SAY_EVERY_S = 10.0

#: SQLite's primary result codes of a disk that refuses writes (full, or failing)
_DISK_CODES = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})


@dataclass(frozen=True, slots=True)
class WriteHealth:
    """Whether the database takes writes: ``error`` the last refusal since the last write that worked."""

    writable: bool
    error: str | None = None
    since: float | None = None  # epoch seconds of the first refusal of this episode
    refused: int = 0  # writes refused in this episode

    def as_dict(self) -> dict[str, Any]:
        return {"writable": self.writable, "error": self.error, "since": self.since, "refused": self.refused}


def check_migrations(migrations: Sequence[Migration]) -> Sequence[Migration]:
    """``migrations`` when they are numbered 1, 2, 3... in order (else ``ValueError``)."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 1..N in order, not {versions}")
    return migrations


class Store:
    """Open with :meth:`open` (creates or migrates the schema), close with :meth:`close`.

    ``migrations`` defaults to the LMS's schema (:data:`edge.lms.schema.MIGRATIONS`).
    """

    def __init__(self, path: Path, migrations: Sequence[Migration] | None = None) -> None:
        self.path = Path(path)
        self._migrations = migrations
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._health = WriteHealth(True)
        self._said: dict[str, float] = {}  # time.monotonic() of the last log line of each kind

    # ------------------------------------------------------------ lifecycle

    def open(self) -> Store:
        """Open (creating the file) and migrate; :class:`~edge.lms.store.schema_version.SchemaTooNew`, with nothing
        touched, when the database is newer than ``migrations``."""
        migrations = self._migrations if self._migrations is not None else _lms_schema()
        check_schema(self.path, len(migrations), version=__version__)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        self._conn = conn
        self._migrate(migrations)
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("store is not open")
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error, also when the ``COMMIT`` itself fails: a full
        disk), holding the store's lock."""
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._refused(exc)
                raise
            self._wrote()

    def write_health(self) -> WriteHealth:
        return self._health

    def _refused(self, exc: sqlite3.Error) -> None:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _DISK_CODES:
            return
        old = self._health
        self._health = WriteHealth(False, str(exc), old.since or time.time(), old.refused + 1)
        if old.writable and self._say("refuses"):
            log.error("store: database %s refuses writes (%s): what cannot be written is kept or refused until the "
                      "disk takes writes again", self.path, exc)  # fmt: skip

    def _wrote(self) -> None:
        old = self._health
        if not old.writable:
            self._health = WriteHealth(True)
            if self._say("takes"):
                log.warning("store: database %s takes writes again (%d refused since %s)", self.path, old.refused,
                            time.strftime("%H:%M:%S", time.localtime(old.since or 0)))  # fmt: skip

    def _say(self, what: str) -> bool:
        """At most one log line of each kind per :data:`SAY_EVERY_S` (a nearly full disk takes some writes and
        refuses others: health follows every one, the log does not)."""
        now = time.monotonic()
        if now - self._said.get(what, -SAY_EVERY_S) < SAY_EVERY_S:
            return False
        self._said[what] = now
        return True

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self.conn.execute(sql, params).fetchall())

    def select(
        self, sql: str, params: Sequence[Any], keys: Sequence[str], *, json_keys: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """:meth:`query` with each row as a dict of ``keys`` (the SELECT's columns), ``json_keys`` decoded."""
        return records(self.query(sql, params), keys, json_keys=json_keys)

    def count(self, table: str, where: str = "", params: Sequence[Any] = ()) -> int:
        """``SELECT COUNT(*) FROM table [WHERE where]``."""
        return int(self.query(f"SELECT COUNT(*) FROM {table}{f' WHERE {where}' if where else ''}", params)[0][0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        check_migrations(migrations)
        newest = len(migrations)
        current = self.user_version()
        if current > newest:
            raise StoreError(f"database {self.path} has schema version {current}, newer than this LMS ({newest})")
        for migration in migrations[current:]:
            with self.transaction() as conn:
                for statement in migration.statements:
                    apply_step(conn, statement)
                conn.execute(f"PRAGMA user_version={int(migration.version)}")
            log.info("database %s migrated to schema version %d (%s)", self.path, migration.version, migration.what)

    def user_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def journal_mode(self) -> str:
        return str(self.query("PRAGMA journal_mode")[0][0])

    # ------------------------------------------------------------ lms_config

    def get_config(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM lms_config WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def claim(self, owner: dict[str, str], version: str) -> None:
        """The database is this site's (``owner``: tenant, stage, site_id), recorded on first use; a database of
        another site raises :class:`StoreError` (one site's data is never read as another's). Records ``version``."""
        for key, value in owner.items():
            stored = self.get_config(key)
            if stored is not None and stored != value:
                raise StoreError(f"database {self.path} belongs to {key} {stored!r}, not {value!r}")
            self.set_config(key, value)
        self.set_config("lms_version", version)

    def set_config(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            self.write_config(conn, key, value)

    @staticmethod
    def write_config(conn: sqlite3.Connection, key: str, value: str) -> None:
        """Set an ``lms_config`` value inside the caller's transaction (with the rows it belongs with)."""
        conn.execute(
            "INSERT INTO lms_config (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value, time.time()),
        )


def _lms_schema() -> Sequence[Migration]:
    # Imported here, not at the top: the schema names every feature's tables, and the features import the store.
    from edge.lms.schema import MIGRATIONS

    return MIGRATIONS
