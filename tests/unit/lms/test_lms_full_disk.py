"""A full disk under the LMS: SQLite refuses the write (``SQLITE_FULL``, here from ``PRAGMA max_page_count``, the
same error a full filesystem gives); the transaction is rolled back whole, the store says it refuses writes (``GET
/api/health``'s ``store``) until one works again, and the fan-out's results wait for the outbox instead of being
dropped (the chaos run's ``disk_full`` does it with a real full filesystem: tests/chaos)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.lms.commands.result_buffer import Report, ResultBuffer
from edge.lms.commands.result_writer import ResultWriter
from edge.lms.store import Store
from shared.messages import CommandResults
from shared.messages.command import CommandStatus


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "lms.db").open()
    s.conn.execute("CREATE TABLE filler (x BLOB)")
    yield s
    s.close()


def _full(store: Store) -> None:
    pages = store.query("PRAGMA page_count")[0][0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_refuses_the_write_whole_and_health_says_so_until_a_write_works(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert store.write_health().writable
    _full(store)
    with (
        caplog.at_level(logging.ERROR),
        pytest.raises(sqlite3.OperationalError, match="full"),
        store.transaction() as conn,
    ):
        conn.execute("INSERT INTO filler VALUES (?)", (b"a" * 10,))
        conn.execute("INSERT INTO filler VALUES (?)", (b"b" * 100_000,))
    health = store.write_health()
    assert not health.writable and "full" in (health.error or "") and health.refused == 1
    assert "refuses writes" in caplog.text
    assert store.count("filler") == 0  # nothing half-written
    with pytest.raises(sqlite3.OperationalError):
        store.set_config("k", "v" * 100_000)
    assert store.write_health().refused == 2
    store.conn.execute("PRAGMA max_page_count = 1073741823")  # space again
    store.set_config("k", "v")
    assert store.write_health().writable and store.get_config("k") == "v"
    assert store.query("PRAGMA integrity_check")[0][0] == "ok"


def test_an_error_that_is_not_the_disk_leaves_health_alone(store: Store) -> None:
    with pytest.raises(sqlite3.OperationalError), store.transaction() as conn:
        conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert store.write_health().writable


class FlakyOutbox:
    """An outbox whose disk is full for the first ``refuse`` puts."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.stored: list[CommandResults] = []

    def put(self, topic: str, message: CommandResults) -> int:
        if self.refuse:
            self.refuse -= 1
            raise sqlite3.OperationalError("database or disk is full")
        self.stored.append(message)
        return len(self.stored)


class Rows:
    def __init__(self) -> None:
        self.removed: list[tuple[str, str]] = []

    def remove(self, keys: list[tuple[str, str]]) -> None:
        self.removed.extend(keys)


def test_results_the_outbox_refused_are_written_again_in_order_and_their_rows_kept_until_then() -> None:
    buffer, outbox, rows = ResultBuffer(), FlakyOutbox(refuse=2), Rows()
    writer = ResultWriter(buffer, outbox, "t", rows)  # type: ignore[arg-type]
    buffer.add(Report("c1", "a1", CommandStatus.SUCCEEDED, error="x"))
    writer.ended(("c1", "a1"))
    writer.flush()
    assert outbox.stored == [] and rows.removed == [] and writer.retry_wait_s() is not None
    buffer.add(Report("c2", "a1", CommandStatus.FAILED, error="y"))
    writer.ended(("c2", "a1"))
    writer.flush()  # refused again: both wait, c1 first
    assert outbox.stored == [] and rows.removed == []
    writer.flush()
    assert [r.request_id for m in outbox.stored for r in m.results] == ["c1", "c2"]
    assert rows.removed == [("c1", "a1"), ("c2", "a1")] and writer.retry_wait_s() is None and not writer.retry_due()
