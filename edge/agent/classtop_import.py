"""Reading a ClassTop client's courses and schedule from its SQLite database or from a JSON file.

The importer is tolerant, because client versions differ:

* **SQLite** (opened read-only): the table ``courses`` (``id, name, teacher, location, color, note``; only
  ``id`` and ``name`` are required) and the first of ``schedule_entries`` / ``schedule`` / ``schedules``
  (``id, course_id, day_of_week, start_time, end_time, weeks``). Missing optional columns get defaults.
* **JSON**: an object with ``courses`` and one of ``schedule_entries`` / ``schedules`` / ``schedule`` (the
  body of ClassTop's ``POST /api/sync`` is accepted as is; other keys are ignored).
* Values are normalised: times ``"8:00"`` / ``"08:00:00"`` become ``"08:00"``; ``weeks`` may be a JSON
  list, ``"1,2,3"``, ``"1-16"``, ``"1-8,10"``, or empty/NULL (every week: ``[]``).
* A row that still does not validate (and an entry whose course is missing) is skipped and reported in
  ``skipped``; the rest is imported. A file that cannot be read at all is an :class:`ImportFailed`.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.commands import MAX_COURSES, MAX_SCHEDULE_ENTRIES, ClassTopData, Course, ScheduleEntry
from shared.messages import describe_validation_error

SCHEDULE_TABLES = ("schedule_entries", "schedule", "schedules")
MAX_JSON_BYTES = 4 * 1024 * 1024
_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?\s*$")
_RANGE_RE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


class ImportFailed(Exception):
    """The source cannot be read or has no courses table/key."""


@dataclass
class ImportResult:
    data: ClassTopData
    source: str
    skipped: list[str] = field(default_factory=list)


def import_classtop(path: Path) -> ImportResult:
    """Read ``path`` (SQLite if it starts with the SQLite header, else JSON)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror or exc}") from None
    if head.startswith(b"SQLite format 3\0"):
        courses, entries = _read_sqlite(path)
    else:
        courses, entries = _read_json(path)
    return build(courses, entries, source=str(path))


def build(courses: list[dict[str, Any]], entries: list[dict[str, Any]], *, source: str) -> ImportResult:
    """Validate raw rows into :class:`ClassTopData`, skipping (and reporting) the bad ones."""
    skipped: list[str] = []
    good_courses: dict[int, Course] = {}
    for course in _valid(Course, courses, _course_fields, "course", skipped):
        if course.id in good_courses:
            skipped.append(f"course {course.id}: duplicate id")
            continue
        if len(good_courses) >= MAX_COURSES:
            skipped.append(f"course {course.id}: more than {MAX_COURSES} courses")
            continue
        good_courses[course.id] = course
    good_entries: dict[int, ScheduleEntry] = {}
    for entry in _valid(ScheduleEntry, entries, _entry_fields, "schedule entry", skipped):
        if entry.course_id not in good_courses:
            skipped.append(f"schedule entry {entry.id}: unknown course {entry.course_id}")
        elif entry.id in good_entries:
            skipped.append(f"schedule entry {entry.id}: duplicate id")
        elif len(good_entries) >= MAX_SCHEDULE_ENTRIES:
            skipped.append(f"schedule entry {entry.id}: more than {MAX_SCHEDULE_ENTRIES} entries")
        else:
            good_entries[entry.id] = entry
    data = ClassTopData(
        courses=sorted(good_courses.values(), key=lambda c: c.id),
        schedule_entries=sorted(good_entries.values(), key=lambda e: e.id),
    )
    return ImportResult(data=data, source=source, skipped=skipped)


M = TypeVar("M", bound=BaseModel)


def _valid(
    model: type[M], rows: list[dict[str, Any]], fields: Callable[[dict[str, Any]], dict[str, Any]], what: str,
    skipped: list[str],
) -> Iterator[M]:
    """The rows that validate as ``model`` (after ``fields`` normalises them); each other one goes in ``skipped``."""
    for row in rows:
        try:
            yield model.model_validate(fields(row))
        except (ValidationError, ValueError, TypeError) as exc:
            skipped.append(f"{what} {row.get('id')!r}: {_why(exc)}")


def _why(exc: Exception) -> str:
    return describe_validation_error(exc, limit=2) if isinstance(exc, ValidationError) else str(exc)


# ---------------------------------------------------------------- sources


def _read_sqlite(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path}: cannot open the database: {exc}") from None
    try:
        db.row_factory = sqlite3.Row
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "courses" not in tables:
            raise ImportFailed(f"{path}: no 'courses' table (tables: {sorted(tables)[:20]})")
        courses = [dict(r) for r in db.execute(f"SELECT * FROM courses LIMIT {MAX_COURSES * 4}")]
        table = next((t for t in SCHEDULE_TABLES if t in tables), None)
        entries = (
            [dict(r) for r in db.execute(f'SELECT * FROM "{table}" LIMIT {MAX_SCHEDULE_ENTRIES * 4}')]
            if table
            else []
        )
        return courses, entries
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path}: cannot read the database: {exc}") from None
    finally:
        db.close()


def _read_json(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ImportFailed(f"{path}: {size} bytes; at most {MAX_JSON_BYTES}")
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ImportFailed(f"{path}: neither a SQLite database nor JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("courses"), list):
        raise ImportFailed(f"{path}: expected a JSON object with a 'courses' list")
    entries: Any = next((doc[k] for k in SCHEDULE_TABLES if isinstance(doc.get(k), list)), [])
    courses = [c for c in doc["courses"] if isinstance(c, dict)]
    return courses, [e for e in entries if isinstance(e, dict)]


# ---------------------------------------------------------------- normalisation


def _course_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _int(row.get("id")),
        "name": _text(row.get("name")).strip(),
        "teacher": _text(row.get("teacher")),
        "location": _text(row.get("location")),
        "color": _text(row.get("color")),
        "note": None if row.get("note") in (None, "") else _text(row.get("note")),
    }


def _entry_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _int(row.get("id")),
        "course_id": _int(row.get("course_id")),
        "day_of_week": _int(row.get("day_of_week")),
        "start_time": _time(row.get("start_time")),
        "end_time": _time(row.get("end_time")),
        "weeks": parse_weeks(row.get("weeks")),
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"not an integer: {value!r}")


def _time(value: Any) -> str:
    match = _TIME_RE.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a time (HH:MM): {value!r}")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def parse_weeks(value: Any) -> list[int]:
    """``[1,2]``, ``"[1,2]"``, ``"1,2,3"``, ``"1-16"``, ``"1-8, 10"``, ``None``/``""`` (every week) -> list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [_int(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, str):
        raise ValueError(f"weeks: unreadable {value!r}")
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValueError(f"weeks: bad JSON {value!r}") from None
        if not isinstance(parsed, list):
            raise ValueError(f"weeks: unreadable {value!r}")
        return [_int(v) for v in parsed]
    weeks: list[int] = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;\s]+", text))):
        span = _RANGE_RE.match(part)
        if span:
            first, last = int(span.group(1)), int(span.group(2))
            if last < first or last - first > 100:
                raise ValueError(f"weeks: bad range {part!r}")
            weeks.extend(range(first, last + 1))
        else:
            weeks.append(_int(part))
    return weeks
