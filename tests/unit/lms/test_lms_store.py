"""The LMS's SQLite store: schema, WAL, migrations, outbox order, the registry's rows, cloud command ids."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.lms.agents import AgentRow, AgentRows
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.commands.cloud_command_ids import CloudCommandIds
from edge.lms.schema import SCHEMA_VERSION
from edge.lms.store import Store, StoreError
from edge.lms.store.database import CACHE_KIB

SEED_TABLES = {"lms_config", "clients", "connection_logs", "command_logs", "cctv_logs"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "sub" / "lms.db").open()
    yield s
    s.close()


def test_schema_has_the_seed_tables_and_the_outbox(store: Store) -> None:
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert SEED_TABLES | {"outbox"} <= names
    cols = [r[1] for r in store.conn.execute("PRAGMA table_info(outbox)")]
    assert cols == ["id", "topic", "payload", "created_at", "attempts"]
    seed_client_cols = {"uuid", "name", "ip_address", "last_seen", "status", "metadata"}
    assert seed_client_cols <= {r[1] for r in store.conn.execute("PRAGMA table_info(clients)")}
    assert store.user_version() == SCHEMA_VERSION


def test_wal_mode_is_on(store: Store) -> None:
    assert store.journal_mode() == "wal"
    # a second connection (another process) can read while the store holds its connection
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_connection_has_explicit_memory_bounds(store: Store) -> None:
    # the page cache's budget in KiB (negative: a size, not a page count) and no memory-mapped file: what the
    # soak's RSS reaches and holds (docs/operations.md, "Soak")
    assert store.query("PRAGMA cache_size") == [(-CACHE_KIB,)]
    assert store.query("PRAGMA mmap_size") == [(0,)]


def test_reopening_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "lms.db"
    with Store(path) as s:
        s.set_config("site_id", "school-1")
        OutboxRows(s).put("t", b"1")
    with Store(path) as s:
        assert s.user_version() == SCHEMA_VERSION
        assert s.get_config("site_id") == "school-1"
        assert [i.payload for i in OutboxRows(s).peek()] == [b"1"]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lms.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        Store(path).open()


def test_outbox_keeps_insertion_order_and_deletes_by_id(store: Store) -> None:
    ids = [OutboxRows(store).put(f"topic/{i % 2}", f"m{i}".encode()) for i in range(10)]
    assert ids == sorted(ids)
    assert [i.payload for i in OutboxRows(store).peek(4)] == [b"m0", b"m1", b"m2", b"m3"]
    OutboxRows(store).delete(ids[:3])
    OutboxRows(store).bump(ids[3:5])
    items = OutboxRows(store).peek(100)
    assert [i.payload for i in items] == [f"m{i}".encode() for i in range(3, 10)]
    assert [i.attempts for i in items[:3]] == [1, 1, 0]
    assert OutboxRows(store).count() == 7


def test_outbox_is_safe_from_many_threads(store: Store) -> None:
    def writer(n: int) -> None:
        for i in range(50):
            OutboxRows(store).put("t", f"{n}:{i}".encode())

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    items = OutboxRows(store).peek(1000)
    assert len(items) == 200
    for n in range(4):  # each writer's messages stay in its order
        mine = [int(i.payload.split(b":")[1]) for i in items if i.payload.startswith(f"{n}:".encode())]
        assert mine == list(range(50))


def test_clients_and_connection_logs(store: Store) -> None:
    row = AgentRow(agent_id="agent-1", name="pc-1", status="online", first_seen=1.0, last_seen=2.0,
                    settings={"a": "b"}, status_reason="start", status_changed_at=2.0)
    AgentRows(store).upsert(row, connection_event="online")
    row.status, row.status_reason, row.status_changed_at = "offline", "lost", 3.0
    AgentRows(store).upsert(row, connection_event="offline")
    AgentRows(store).touch([("agent-1", 9.0)])
    (loaded,) = AgentRows(store).load()
    assert (loaded.status, loaded.last_seen, loaded.settings) == ("offline", 9.0, {"a": "b"})
    logs = AgentRows(store).connection_log("agent-1")
    assert [(e["event_type"], e["connected_at"], e["disconnected_at"]) for e in logs] == [
        ("offline", None, 3.0),
        ("online", 2.0, None),
    ]


def test_cloud_command_ids_are_remembered_across_a_reopen_and_pruned(tmp_path: Path) -> None:
    path = tmp_path / "lms.db"
    with Store(path) as s:
        assert CloudCommandIds(s).remember("cmd-1", 100.0) is True
        assert CloudCommandIds(s).remember("cmd-1", 200.0) is False  # seen: a redelivery
        assert CloudCommandIds(s).remember("cmd-2", 300.0) is True
    with Store(path) as s:  # a restarted LMS
        assert CloudCommandIds(s).remember("cmd-1", 400.0) is False
        assert CloudCommandIds(s).forget(before=250.0) == 1  # cmd-1 (first seen at 100) is old enough to forget
        assert CloudCommandIds(s).remember("cmd-1", 500.0) is True
        assert CloudCommandIds(s).remember("cmd-2", 500.0) is False
