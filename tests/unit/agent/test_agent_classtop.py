"""ClassTop data on the agent: the versioned store, the tolerant importer, the commands, the snapshots."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from edge.agent.classtop import ClassTopError, ClassTopStore, SnapshotLoop, content_hash, snapshot_event
from edge.agent.classtop_commands import ClassTopCommands
from edge.agent.classtop_import import ImportFailed, import_classtop, parse_weeks
from edge.agent.commands import CommandFailed
from edge.agent.processes import ProcessSampler
from shared.commands import ClassTopData, ClassTopSnapshot, Course, ScheduleEntry, validate_params
from shared.errors import CommandError
from shared.messages import MAX_PAYLOAD_BYTES, Event, decode, structs

MATHS = Course(id=1, name="Maths", teacher="Li", location="101", color="#6750A4")
ART = Course(id=2, name="Art")
MONDAY = ScheduleEntry(id=10, course_id=1, day_of_week=1, start_time="08:00", end_time="08:45", weeks=[2, 1])


def test_store_versions_only_real_changes_and_survives_a_restart(tmp_path: Path) -> None:
    store = ClassTopStore(tmp_path / "classtop.json")
    first = store.snapshot()
    assert first.version == 0 and first.courses == [] and first.hash == content_hash(ClassTopData())
    assert store.set_courses([MATHS, ART])
    assert store.set_schedule([MONDAY])
    assert not store.set_schedule([MONDAY])  # same content: no new version
    after = store.snapshot()
    assert after.version == 2 and after.epoch == first.epoch
    assert after.schedule_entries[0].weeks == [1, 2]
    again = ClassTopStore(tmp_path / "classtop.json")
    assert again.snapshot() == after
    assert not again.replace(again.data(), source="re-import")  # importing the same data: nothing new
    assert again.snapshot().version == 2


def test_store_refuses_inconsistent_or_oversized_data_and_keeps_the_old(tmp_path: Path) -> None:
    store = ClassTopStore(tmp_path / "classtop.json")
    store.set_courses([MATHS])
    store.set_schedule([MONDAY])
    with pytest.raises(ClassTopError, match="unknown course ids"):
        store.set_courses([ART])  # Maths is still used by the schedule
    with pytest.raises(ClassTopError, match="unique"):
        store.set_courses([MATHS, MATHS])
    big = [Course(id=i, name="x" * 200, teacher="t" * 200, location="l" * 200) for i in range(300)]
    with pytest.raises(ClassTopError, match="bytes"):
        store.set_courses([MATHS, *big[2:]])
    assert store.snapshot().version == 2 and store.snapshot().courses == [MATHS]
    assert ClassTopStore(tmp_path / "classtop.json").snapshot().courses == [MATHS]


def test_a_corrupt_or_tampered_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "classtop.json"
    store = ClassTopStore(path)
    store.set_courses([MATHS])
    doc = json.loads(path.read_text())
    doc["courses"][0]["name"] = "Edited by hand"  # hash no longer matches
    path.write_text(json.dumps(doc))
    fresh = ClassTopStore(path)
    assert fresh.snapshot().courses == [] and fresh.snapshot().epoch != store.snapshot().epoch
    assert len(list(tmp_path.glob("classtop.json.corrupt-*"))) == 1


def test_snapshot_event_is_valid_and_within_the_message_limit(tmp_path: Path) -> None:
    store = ClassTopStore(tmp_path / "classtop.json")
    store.set_courses([MATHS])
    event = snapshot_event(store.snapshot())
    assert event.kind == "classtop.snapshot" and len(structs.encode(event)) < MAX_PAYLOAD_BYTES
    assert decode(Event, structs.encode(event)).data == event.data  # the model reads what the mirror wrote
    parsed = ClassTopSnapshot.model_validate(event.data)
    assert parsed.version == 1 and parsed.courses == [MATHS]


def make_classtop_db(path: Path, schedule_table: str = "schedule_entries") -> None:
    db = sqlite3.connect(path)
    db.executescript(
        f"""
        CREATE TABLE courses (id INTEGER PRIMARY KEY, name TEXT NOT NULL, teacher TEXT, location TEXT,
                              color TEXT, note TEXT, created_at TEXT);
        CREATE TABLE {schedule_table} (id INTEGER PRIMARY KEY, course_id INTEGER, day_of_week INTEGER,
                              start_time TEXT, end_time TEXT, weeks TEXT);
        INSERT INTO courses VALUES (1, '数学', '王老师', 'A101', '#6750A4', NULL, '2025-01-01');
        INSERT INTO courses VALUES (2, 'English', NULL, NULL, NULL, '', NULL);
        INSERT INTO courses VALUES (3, '', 'nobody', NULL, NULL, NULL, NULL);
        INSERT INTO {schedule_table} VALUES (1, 1, 1, '8:00', '08:45:00', '[1,2,3]');
        INSERT INTO {schedule_table} VALUES (2, 2, 3, '10:00', '10:45', '1-4,6');
        INSERT INTO {schedule_table} VALUES (3, 2, 5, '14:00', '14:45', NULL);
        INSERT INTO {schedule_table} VALUES (4, 99, 5, '14:00', '14:45', NULL);
        INSERT INTO {schedule_table} VALUES (5, 1, 9, '14:00', '14:45', NULL);
        INSERT INTO {schedule_table} VALUES (6, 1, 2, '15:00', '14:00', NULL);
        """
    )
    db.commit()
    db.close()


@pytest.mark.parametrize("table", ["schedule_entries", "schedule"])
def test_import_from_a_classtop_database_is_tolerant(tmp_path: Path, table: str) -> None:
    path = tmp_path / "classtop.db"
    make_classtop_db(path, table)
    result = import_classtop(path)
    assert [c.name for c in result.data.courses] == ["数学", "English"]
    english = result.data.courses[1]
    assert english.teacher == "" and english.location == "" and english.note is None
    entries = {e.id: e for e in result.data.schedule_entries}
    assert entries[1].start_time == "08:00" and entries[1].end_time == "08:45" and entries[1].weeks == [1, 2, 3]
    assert entries[2].weeks == [1, 2, 3, 4, 6] and entries[3].weeks == []
    assert sorted(entries) == [1, 2, 3]
    reasons = " | ".join(result.skipped)
    assert "course 3" in reasons and "unknown course 99" in reasons
    assert "schedule entry 5" in reasons and "schedule entry 6" in reasons


def test_import_from_json_accepts_the_classtop_sync_body(tmp_path: Path) -> None:
    path = tmp_path / "sync.json"
    body = {
        "client_uuid": "x",
        "courses": [{"id": 7, "name": "Physics", "teacher": "Zhao", "color": "#fff", "note": None}],
        "schedule_entries": [
            {"id": 1, "course_id": 7, "day_of_week": 2, "start_time": "09:00", "end_time": "09:45", "weeks": [1]}
        ],
    }
    path.write_text(json.dumps(body))
    result = import_classtop(path)
    assert result.skipped == [] and result.data.courses[0].location == ""
    assert result.data.schedule_entries[0].course_id == 7


def test_import_failures_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="No such file"):
        import_classtop(tmp_path / "missing.db")
    (tmp_path / "junk").write_bytes(b"\x00\x01 binary")
    with pytest.raises(ImportFailed, match="neither a SQLite database nor JSON"):
        import_classtop(tmp_path / "junk")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ImportFailed, match="'courses' list"):
        import_classtop(tmp_path / "list.json")
    db = sqlite3.connect(tmp_path / "other.db")
    db.execute("CREATE TABLE lessons (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(ImportFailed, match="no 'courses' table"):
        import_classtop(tmp_path / "other.db")


@pytest.mark.parametrize(
    ("raw", "weeks"),
    [(None, []), ("", []), ("[3, 1]", [3, 1]), ("1,2", [1, 2]), ("1-3", [1, 2, 3]), ("1-2; 5", [1, 2, 5]), (4, [4])],
)
def test_parse_weeks(raw: Any, weeks: list[int]) -> None:
    assert parse_weeks(raw) == weeks


@pytest.mark.parametrize("raw", ["3-1", "a", "[1", {"x": 1}, "1-500"])
def test_parse_weeks_refuses_nonsense(raw: Any) -> None:
    with pytest.raises(ValueError, match=r"weeks|integer"):
        parse_weeks(raw)


def command(name: str, params: dict[str, Any] | None = None) -> tuple[structs.Command, Any]:
    cmd = structs.build(structs.Command, request_id=f"r-{name}", command=name, params=params or {})
    return cmd, validate_params(name, cmd.params)


class Recorder:
    def __init__(self) -> None:
        self.changes = 0
        self.snapshots = 0

    def change(self) -> None:
        self.changes += 1

    def snapshot(self) -> None:
        self.snapshots += 1


def test_commands_get_set_and_sync(tmp_path: Path) -> None:
    store = ClassTopStore(tmp_path / "classtop.json")
    source = tmp_path / "classtop.db"
    make_classtop_db(source)
    rec = Recorder()
    cmds = ClassTopCommands(
        store, import_path=source, on_change=rec.change, send_snapshot=rec.snapshot, processes=ProcessSampler()
    )
    table = cmds.table()
    assert table["get_courses"](*command("get_courses")) == {"courses": []}
    answer = table["set_courses"](*command("set_courses", {"courses": [MATHS.model_dump()]}))
    assert answer["changed"] and answer["version"] == 1 and rec.changes == 1
    entry = MONDAY.model_dump()
    assert table["set_schedule"](*command("set_schedule", {"schedule_entries": [entry]}))["version"] == 2
    assert table["get_schedule"](*command("get_schedule"))["schedule_entries"][0]["weeks"] == [1, 2]
    with pytest.raises(CommandFailed, match="unknown course ids") as failed:
        table["set_schedule"](*command("set_schedule", {"schedule_entries": [{**entry, "course_id": 5}]}))
    assert failed.value.code == "invalid_params" and store.snapshot().version == 2
    synced = table["sync_classtop_data"](*command("sync_classtop_data"))
    assert synced["imported"] and synced["changed"] and synced["version"] == 3 and len(synced["skipped"]) == 4
    assert rec.snapshots == 1 and rec.changes == 2  # the sync sends its snapshot itself
    assert table["sync_classtop_data"](*command("sync_classtop_data"))["changed"] is False
    source.unlink()
    with pytest.raises(CommandFailed, match="import failed"):
        table["sync_classtop_data"](*command("sync_classtop_data"))
    processes = table["get_processes"](*command("get_processes", {"top": 3}))
    assert processes["count"] >= 1 and len(processes["by_memory"]) <= 3
    assert any(p["rss"] > 0 for p in processes["by_memory"])


def test_command_params_are_validated() -> None:
    with pytest.raises(CommandError, match="day_of_week"):
        validate_params("set_schedule", {"schedule_entries": [{**MONDAY.model_dump(), "day_of_week": 8}]})
    with pytest.raises(CommandError, match="start_time"):
        validate_params("set_schedule", {"schedule_entries": [{**MONDAY.model_dump(), "start_time": "8am"}]})
    with pytest.raises(CommandError, match="courses"):
        validate_params("set_courses", {})
    with pytest.raises(CommandError, match="room: Extra inputs"):
        validate_params("set_courses", {"courses": [{**MATHS.model_dump(), "room": 1}]})


def test_snapshot_loop_sends_on_poke(tmp_path: Path) -> None:
    store = ClassTopStore(tmp_path / "classtop.json")
    sent: list[structs.Event] = []

    def send(event: structs.Event) -> bool:
        sent.append(event)
        return True

    loop = SnapshotLoop(store, 3600, send)
    loop.start()
    try:
        loop.poke()  # the interval is an hour: only the poke can send
        deadline = time.monotonic() + 10
        while not sent and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        loop.stop()
    assert [e.kind for e in sent] == ["classtop.snapshot"] and loop.sent == 1
    assert sent[0].data["hash"] == store.snapshot().hash


def test_an_unchanged_import_does_not_undo_command_changes(tmp_path: Path) -> None:
    imported = ClassTopData(courses=[MATHS])
    store = ClassTopStore(tmp_path / "classtop.json")
    assert store.import_data(imported, source="client.db")
    assert store.set_courses([MATHS, ART])  # a remote change after the import
    restarted = ClassTopStore(tmp_path / "classtop.json")
    assert not restarted.import_data(imported, source="client.db")  # same source content: kept as changed
    assert restarted.snapshot().courses == [MATHS, ART] and restarted.snapshot().version == 2
    assert restarted.import_data(imported, source="client.db", force=True)  # sync_classtop_data
    assert restarted.snapshot().courses == [MATHS] and restarted.snapshot().version == 3
    edited = ClassTopData(courses=[MATHS.model_copy(update={"teacher": "Zhang"})])
    assert ClassTopStore(tmp_path / "classtop.json").import_data(edited, source="client.db")  # source changed
