"""The LMS's SQLite database: the seed-000 tables plus the cloud outbox and its dead-letter.

* WAL mode, ``synchronous=NORMAL``: a committed row survives a crash of the LMS process (not necessarily a
  power cut of the mini-PC in the last moments); readers never block the writer.
* One connection shared by all threads, serialised by a lock (SQLite serialises writers anyway).
* The schema is created idempotently and versioned with ``PRAGMA user_version``: :data:`MIGRATIONS` holds
  one step per version, applied in order inside a transaction.
* Times are wall-clock seconds since the epoch (REAL), as on the wire; the seed's column names are kept.
* Command logs are written off the hot path by :class:`edge.lms.commands.command_log.CommandLog`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: One entry per schema version: the statements that take the database from version N-1 to N.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS lms_config (
            key TEXT PRIMARY KEY,
            value TEXT,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS clients (
            uuid TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            ip_address TEXT,
            last_seen REAL,
            status TEXT NOT NULL DEFAULT 'offline',
            metadata TEXT,
            kind TEXT NOT NULL DEFAULT 'agent',
            hostname TEXT,
            version TEXT,
            settings TEXT,
            status_reason TEXT,
            status_changed_at REAL,
            first_seen REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS clients_status ON clients (status)",
        """CREATE TABLE IF NOT EXISTS connection_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_uuid TEXT NOT NULL,
            event_type TEXT NOT NULL,
            connected_at REAL,
            disconnected_at REAL,
            ip_address TEXT,
            reason TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS connection_logs_client ON connection_logs (client_uuid, id)",
        """CREATE TABLE IF NOT EXISTS command_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_uuid TEXT NOT NULL,
            command TEXT NOT NULL,
            params TEXT,
            response TEXT,
            success BOOLEAN,
            executed_at REAL NOT NULL,
            request_id TEXT,
            status TEXT,
            error_code TEXT,
            source TEXT,
            duration_ms REAL
        )""",
        "CREATE INDEX IF NOT EXISTS command_logs_client ON command_logs (client_uuid, id)",
        """CREATE TABLE IF NOT EXISTS cctv_logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_uuid TEXT NOT NULL,
            event_type TEXT NOT NULL,
            camera_id TEXT,
            details TEXT,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0
        )""",
    ),
    2: (
        """CREATE TABLE IF NOT EXISTS api_tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL,
            created_by TEXT,
            last_used_at REAL,
            revoked_at REAL
        )""",
        """CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            role TEXT,
            action TEXT NOT NULL,
            target TEXT,
            result TEXT,
            detail TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)",
        """CREATE TABLE IF NOT EXISTS metrics (
            agent_id TEXT NOT NULL,
            ts REAL NOT NULL,
            cpu_percent REAL,
            mem_percent REAL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS metrics_agent_ts ON metrics (agent_id, ts)",
        "CREATE INDEX IF NOT EXISTS metrics_ts ON metrics (ts)",
        """CREATE TABLE IF NOT EXISTS agent_tags (
            agent_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (agent_id, tag)
        )""",
        "CREATE INDEX IF NOT EXISTS agent_tags_tag ON agent_tags (tag)",
        """CREATE TABLE IF NOT EXISTS agent_groups (
            name TEXT PRIMARY KEY,
            description TEXT,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS agent_group_members (
            group_name TEXT NOT NULL REFERENCES agent_groups (name) ON DELETE CASCADE,
            agent_id TEXT NOT NULL,
            PRIMARY KEY (group_name, agent_id)
        )""",
        """CREATE TABLE IF NOT EXISTS command_queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent_id TEXT NOT NULL,
            command TEXT NOT NULL,
            params TEXT NOT NULL,
            timeout_s REAL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            actor TEXT,
            state TEXT NOT NULL DEFAULT 'queued',
            request_id TEXT,
            result TEXT,
            finished_at REAL
        )""",
        "CREATE INDEX IF NOT EXISTS command_queue_agent ON command_queue (agent_id, state, id)",
    ),
    3: (  # ClassTop data of each client (HTTP sync of legacy clients, classtop.snapshot of agents)
        """CREATE TABLE IF NOT EXISTS classtop_clients (
            client_uuid TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            api_url TEXT NOT NULL DEFAULT '',
            registered_at REAL,
            synced_at REAL,
            source TEXT,
            epoch TEXT,
            version INTEGER,
            hash TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS classtop_courses (
            client_uuid TEXT NOT NULL,
            id INTEGER NOT NULL,
            name TEXT NOT NULL,
            teacher TEXT NOT NULL,
            location TEXT NOT NULL,
            color TEXT NOT NULL,
            note TEXT,
            PRIMARY KEY (client_uuid, id)
        )""",
        """CREATE TABLE IF NOT EXISTS classtop_entries (
            client_uuid TEXT NOT NULL,
            id INTEGER NOT NULL,
            course_id INTEGER NOT NULL,
            day_of_week INTEGER NOT NULL,
            start_time TEXT NOT NULL,
            end_time TEXT NOT NULL,
            weeks TEXT NOT NULL,
            PRIMARY KEY (client_uuid, id)
        )""",
    ),
    4: (  # agent events (edge.lms.events.agent_events), bounded by age and row count
        """CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            data TEXT,
            timestamp REAL NOT NULL,
            received_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS events_agent ON events (agent_id, id)",
        "CREATE INDEX IF NOT EXISTS events_timestamp ON events (timestamp)",
        "CREATE INDEX IF NOT EXISTS cctv_logs_client ON cctv_logs (client_uuid, id)",
    ),
    5: (  # what edge.lms.cloud.snapshot_sync last queued for the cloud, per agent and kind
        """CREATE TABLE IF NOT EXISTS snapshot_state (
            agent_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            epoch TEXT NOT NULL,
            version INTEGER NOT NULL,
            sent_hash TEXT NOT NULL,
            sent_at REAL NOT NULL,
            PRIMARY KEY (agent_id, kind)
        )""",
    ),
    6: (  # cloud command ids already handled (edge.lms.commands.fanout): a redelivery after a restart is not run again
        """CREATE TABLE IF NOT EXISTS cloud_commands (
            request_id TEXT PRIMARY KEY,
            received_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS cloud_commands_received ON cloud_commands (received_at)",
    ),
    7: (  # outbox rows the cloud refused permanently (edge.lms.cloud.outbox), kept for the site admin to retry or drop
        """CREATE TABLE IF NOT EXISTS outbox_dead (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL,
            created_at REAL NOT NULL,
            attempts INTEGER NOT NULL,
            failed_at REAL NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS outbox_dead_failed ON outbox_dead (failed_at, id)",
    ),
    8: (  # who may be a ClassTop client (edge.lms.legacy.admission); the clients known so far stay approved
        """CREATE TABLE IF NOT EXISTS classtop_admissions (
            client_uuid TEXT PRIMARY KEY,
            approval TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            ip_address TEXT,
            first_seen REAL NOT NULL,
            last_seen REAL NOT NULL,
            decided_at REAL,
            decided_by TEXT
        )""",
        """INSERT OR IGNORE INTO classtop_admissions (client_uuid, approval, name, ip_address, first_seen, last_seen,
            decided_at, decided_by)
           SELECT uuid, 'approved', '', ip_address, first_seen, COALESCE(last_seen, first_seen), first_seen,
            'schema 8' FROM clients WHERE kind = 'legacy'""",
        """INSERT OR IGNORE INTO classtop_admissions (client_uuid, approval, name, ip_address, first_seen, last_seen,
            decided_at, decided_by)
           SELECT client_uuid, 'approved', name, NULL, COALESCE(registered_at, synced_at, 0),
            COALESCE(synced_at, registered_at, 0), COALESCE(registered_at, synced_at, 0), 'schema 8'
           FROM classtop_clients WHERE (source IS NULL OR source = 'http')
            AND client_uuid NOT IN (SELECT uuid FROM clients WHERE kind != 'legacy')""",
    ),
}
SCHEMA_VERSION = max(MIGRATIONS)


class StoreError(Exception):
    """The database cannot be opened or is newer than this LMS."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    topic: str
    payload: bytes
    created_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox row the cloud refused permanently (``outbox_dead``), without its payload bytes."""

    id: int
    topic: str
    size: int
    created_at: float
    attempts: int
    failed_at: float
    reason: str


#: :meth:`Store.outbox_dead_list` returns at most this many rows.
DEAD_LIST_MAX = 1000


@dataclass(slots=True)
class ClientRow:
    uuid: str
    name: str
    status: str = "offline"
    kind: str = "agent"
    last_seen: float | None = None
    first_seen: float = 0.0
    hostname: str | None = None
    version: str | None = None
    ip_address: str | None = None
    settings: dict[str, str] | None = None
    status_reason: str | None = None
    status_changed_at: float | None = None


class Store:
    """Open with :meth:`open` (creates/migrates the schema), close with :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------ lifecycle

    def open(self) -> Store:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        self._conn = conn
        self._migrate()
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
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error), holding the store's lock."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self.conn.execute(sql, params).fetchall())

    def _migrate(self) -> None:
        current = self.user_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this LMS ({SCHEMA_VERSION})"
            )
        for version in sorted(v for v in MIGRATIONS if v > current):
            with self.transaction() as conn:
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={int(version)}")
            log.info("database %s migrated to schema version %d", self.path, version)

    def user_version(self) -> int:
        return int(self.query("PRAGMA user_version")[0][0])

    def journal_mode(self) -> str:
        return str(self.query("PRAGMA journal_mode")[0][0])

    # ------------------------------------------------------------ lms_config

    def get_config(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM lms_config WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_config(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO lms_config (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, value, time.time()),
            )

    # ------------------------------------------------------------ cloud_commands

    def remember_cloud_command(self, request_id: str, received_at: float) -> bool:
        """Record a cloud command's id: False when it was recorded before (a redelivery, maybe across a restart)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO cloud_commands (request_id, received_at) VALUES (?, ?)",
                (request_id, received_at),
            )
            return cur.rowcount == 1

    def forget_cloud_commands(self, before: float) -> int:
        """Drop the ids recorded before ``before`` (epoch seconds). Returns how many."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM cloud_commands WHERE received_at < ?", (before,)).rowcount

    # ------------------------------------------------------------ clients

    def load_clients(self) -> list[ClientRow]:
        rows = self.query(
            "SELECT uuid, name, status, kind, last_seen, first_seen, hostname, version, ip_address, settings, "
            "status_reason, status_changed_at FROM clients ORDER BY uuid"
        )
        out: list[ClientRow] = []
        for r in rows:
            settings = json_or_none(r[9])
            out.append(
                ClientRow(
                    uuid=r[0], name=r[1], status=r[2], kind=r[3], last_seen=r[4], first_seen=r[5], hostname=r[6],
                    version=r[7], ip_address=r[8], settings=settings if isinstance(settings, dict) else None,
                    status_reason=r[10], status_changed_at=r[11],
                )
            )
        return out

    def upsert_client(self, row: ClientRow, *, connection_event: str | None = None) -> None:
        """Insert or replace a client; with ``connection_event`` also append a connection log entry."""
        self.upsert_clients([(row, connection_event)])

    def upsert_clients(self, changes: Sequence[tuple[ClientRow, str | None]]) -> None:
        """:meth:`upsert_client` for several changes, in order, in one transaction."""
        with self.transaction() as conn:
            for row, connection_event in changes:
                conn.execute(
                    "INSERT INTO clients (uuid, name, status, kind, last_seen, first_seen, hostname, version, "
                    "ip_address, settings, status_reason, status_changed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(uuid) DO UPDATE SET name=excluded.name, status=excluded.status, "
                    "kind=excluded.kind, last_seen=excluded.last_seen, hostname=excluded.hostname, "
                    "version=excluded.version, ip_address=excluded.ip_address, settings=excluded.settings, "
                    "status_reason=excluded.status_reason, status_changed_at=excluded.status_changed_at",
                    (
                        row.uuid, row.name, row.status, row.kind, row.last_seen, row.first_seen, row.hostname,
                        row.version, row.ip_address, None if row.settings is None else json.dumps(row.settings),
                        row.status_reason, row.status_changed_at,
                    ),
                )
                if connection_event is not None:
                    at = row.status_changed_at or time.time()
                    online = connection_event == "online"
                    conn.execute(
                        "INSERT INTO connection_logs (client_uuid, event_type, connected_at, disconnected_at, "
                        "ip_address, reason) VALUES (?, ?, ?, ?, ?, ?)",
                        (row.uuid, connection_event, at if online else None, None if online else at,
                         row.ip_address, row.status_reason),
                    )

    def touch_clients(self, seen: Iterable[tuple[str, float]]) -> None:
        """Batch-update ``last_seen`` (heartbeats are kept in memory and flushed here periodically)."""
        items = [(t, u) for u, t in seen]
        if not items:
            return
        with self.transaction() as conn:
            conn.executemany("UPDATE clients SET last_seen = ? WHERE uuid = ?", items)

    def connection_logs(self, client_uuid: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT id, event_type, connected_at, disconnected_at, ip_address, reason FROM connection_logs "
            "WHERE client_uuid = ? ORDER BY id DESC LIMIT ?",
            (client_uuid, limit),
        )
        keys = ("id", "event_type", "connected_at", "disconnected_at", "ip_address", "reason")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # ------------------------------------------------------------ outbox

    def outbox_put(self, topic: str, payload: bytes) -> int:
        """Append a message bound for the cloud; durable when this returns."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)", (topic, payload, time.time())
            )
            return int(cur.lastrowid or 0)

    def outbox_peek(self, limit: int = 100) -> list[OutboxItem]:
        """The oldest ``limit`` messages, in insertion order."""
        rows = self.query(
            "SELECT id, topic, payload, created_at, attempts FROM outbox ORDER BY id LIMIT ?", (limit,)
        )
        return [OutboxItem(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    def outbox_delete(self, ids: Iterable[int]) -> None:
        items = [(i,) for i in ids]
        if items:
            with self.transaction() as conn:
                conn.executemany("DELETE FROM outbox WHERE id = ?", items)

    def outbox_bump(self, ids: Iterable[int]) -> None:
        """Count a failed delivery attempt."""
        items = [(i,) for i in ids]
        if items:
            with self.transaction() as conn:
                conn.executemany("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", items)

    def outbox_count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM outbox")[0][0])

    # ------------------------------------------------------------ outbox_dead (the dead-letter)

    def outbox_dead_letter(self, ids: Iterable[int], reason: str, failed_at: float | None = None) -> int:
        """Move rows from ``outbox`` to ``outbox_dead`` (one transaction: all or nothing). Returns how many moved."""
        items = sorted({int(i) for i in ids})
        if not items:
            return 0
        at = time.time() if failed_at is None else failed_at
        marks = ",".join("?" * len(items))
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox_dead (id, topic, payload, created_at, attempts, failed_at, reason) "
                f"SELECT id, topic, payload, created_at, attempts, ?, ? FROM outbox WHERE id IN ({marks})",
                (at, reason, *items),
            )
            return int(conn.execute(f"DELETE FROM outbox WHERE id IN ({marks})", items).rowcount)

    def outbox_dead_list(self, limit: int = 100) -> list[DeadLetter]:
        """Dead rows, newest first; ``limit`` is clamped to 1..:data:`DEAD_LIST_MAX`. Payload sizes, not bytes."""
        limit = max(1, min(int(limit), DEAD_LIST_MAX))
        rows = self.query(
            "SELECT id, topic, length(payload), created_at, attempts, failed_at, reason FROM outbox_dead "
            "ORDER BY failed_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [DeadLetter(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def outbox_dead_get(self, dead_id: int) -> DeadLetter | None:
        rows = self.query(
            "SELECT id, topic, length(payload), created_at, attempts, failed_at, reason FROM outbox_dead WHERE id = ?",
            (dead_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return DeadLetter(r[0], r[1], int(r[2]), r[3], r[4], r[5], r[6])

    def outbox_dead_count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM outbox_dead")[0][0])

    def outbox_dead_retry(self, dead_id: int) -> int | None:
        """Move a dead row back to the outbox (``attempts`` 0); returns its new outbox id, None when unknown.

        It gets a new id, so it goes out after everything queued now: the outbox's order holds only among rows
        that were never dead.
        """
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT topic, payload, created_at FROM outbox_dead WHERE id = ?", (dead_id,)
            ).fetchone()
            if row is None:
                return None
            cur = conn.execute(
                "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)", (row[0], row[1], row[2])
            )
            conn.execute("DELETE FROM outbox_dead WHERE id = ?", (dead_id,))
            return int(cur.lastrowid or 0)

    def outbox_dead_delete(self, dead_id: int) -> bool:
        """Discard a dead row for good; False when unknown."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM outbox_dead WHERE id = ?", (dead_id,)).rowcount == 1


def json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
