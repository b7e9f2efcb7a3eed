"""The command log: rows queued from any thread, written in batches by one writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.lms.commands import CommandLog, CommandLogEntry
from edge.lms.store import Store


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[CommandLog]:
    store = Store(tmp_path / "lms.db").open()
    log = CommandLog(store).start()
    yield log
    log.stop()
    store.close()


def entry(i: int, agent: str = "agent-1") -> CommandLogEntry:
    return CommandLogEntry(
        agent_id=agent, command="ping", params={"i": i}, request_id=f"r{i}", status="succeeded", success=True,
        response={"pong": i}, error_code=None, source="api", duration_ms=0.5, executed_at=float(i),
    )


def test_rows_are_written_and_read_back_newest_first(journal: CommandLog) -> None:
    for i in range(3):
        journal.append(entry(i))
    journal.append(entry(9, agent="agent-2"))
    assert journal.flush()
    rows = journal.recent("agent-1")
    assert [(r["request_id"], r["params"], r["response"], r["success"]) for r in rows] == [
        ("r2", {"i": 2}, {"pong": 2}, True),
        ("r1", {"i": 1}, {"pong": 1}, True),
        ("r0", {"i": 0}, {"pong": 0}, True),
    ]
    assert len(journal.recent()) == 4


def test_many_threads_and_a_group_commit(journal: CommandLog) -> None:
    def writer(n: int) -> None:
        for i in range(300):
            journal.append(entry(n * 1000 + i))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.flush()
    assert journal.written == 1200 and journal.write_errors == 0
    assert len(journal.recent(limit=5000)) == 1200


def test_rows_are_not_lost_at_stop(tmp_path: Path) -> None:
    store = Store(tmp_path / "lms.db").open()
    log = CommandLog(store).start()
    log.append(entry(1))
    started = time.monotonic()
    log.stop()  # does not wait out the commit delay
    assert time.monotonic() - started < 1.0
    assert [r["request_id"] for r in CommandLog(store).recent()] == ["r1"]
    store.close()
