"""Timetables on the LMS: full-snapshot replacement, and agents' snapshots applied only when newer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge.lms.legacy.timetable import TimetableError, Timetables
from edge.lms.store import Store
from shared.classtop_wire import SyncUpload


@pytest.fixture
def timetables(tmp_path: Path) -> Iterator[Timetables]:
    with Store(tmp_path / "lms.db") as store:
        yield Timetables(store)


def course(i: int, name: str = "Maths") -> dict[str, Any]:
    return {"id": i, "name": name, "teacher": "T", "color": "#6750A4", "note": None}


def entry(i: int, course_id: int, weeks: list[int] | None) -> dict[str, Any]:
    return {"id": i, "course_id": course_id, "day_of_week": 2, "start_time": "09:00", "end_time": "09:45",
            "weeks": weeks}  # fmt: skip


def snapshot(epoch: str, version: int, names: list[str], hash_: str | None = None) -> dict[str, Any]:
    return {"epoch": epoch, "version": version, "hash": hash_ or f"{epoch}-{version}",
            "courses": [course(i + 1, n) for i, n in enumerate(names)], "schedule_entries": []}  # fmt: skip


def test_upload_replaces_the_clients_snapshot_only(timetables: Timetables) -> None:
    timetables.sync(SyncUpload.model_validate({"client_uuid": "a", "courses": [course(1), course(2)],
                                             "schedule_entries": [entry(5, 1, None)]}))  # fmt: skip
    timetables.sync(SyncUpload.model_validate({"client_uuid": "b", "courses": [course(1, "Art")]}))
    got = timetables.sync(SyncUpload.model_validate({"client_uuid": "a", "courses": [course(2)]}))
    assert got == {"synced_courses": 1, "synced_entries": 0}
    assert [c["id"] for c in timetables.courses("a")] == [2]
    assert timetables.schedule("a") == []
    assert timetables.courses("b") == [{**course(1, "Art"), "location": ""}]


def test_weeks_are_a_sorted_list_never_null(timetables: Timetables) -> None:
    entries = [entry(1, 1, None), entry(2, 1, [3, 1, 3])]
    body = {"client_uuid": "a", "courses": [course(1)], "schedule_entries": entries}
    timetables.sync(SyncUpload.model_validate(body))
    assert [e["weeks"] for e in timetables.schedule("a")] == [[], [1, 3]]


@pytest.mark.parametrize(
    "body",
    [
        {"client_uuid": "a/b"},
        {"client_uuid": "a", "courses": [course(1), course(1)]},
        {"client_uuid": "a", "schedule_entries": [{**entry(1, 1, []), "start_time": "25:00"}]},
        {"client_uuid": "a", "schedule_entries": [{**entry(1, 1, []), "day_of_week": 0}]},
        {"client_uuid": "a", "courses": [{"name": "no id"}]},
    ],
)
def test_bad_uploads_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SyncUpload.model_validate(body)


def test_agent_snapshots_apply_only_when_newer(timetables: Timetables) -> None:
    assert timetables.apply_snapshot("agent-1", snapshot("e1", 2, ["A"])) is True
    assert timetables.apply_snapshot("agent-1", snapshot("e1", 2, ["B"])) is False  # same version
    assert timetables.apply_snapshot("agent-1", snapshot("e1", 1, ["C"])) is False  # older
    assert [c["name"] for c in timetables.courses("agent-1")] == ["A"]
    assert timetables.apply_snapshot("agent-1", snapshot("e1", 3, ["D"])) is True
    assert timetables.apply_snapshot("agent-1", snapshot("e2", 1, ["E"])) is True  # a new epoch: store recreated
    assert [c["name"] for c in timetables.courses("agent-1")] == ["E"]
    with pytest.raises(TimetableError):
        timetables.apply_snapshot("agent-1", {"epoch": "e3", "version": "x"})
    assert [c["name"] for c in timetables.courses("agent-1")] == ["E"]
