"""The ClassTop client's sync bodies (shared/classtop_wire.py), read one way by the LMS and the cloud."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.classtop_wire import MAX_SYNC_COURSES, ClientRegistration, SyncUpload

COURSE = {"id": 1, "name": "Maths", "teacher": "Li", "color": "#6750A4", "note": None}
ENTRY = {"id": 11, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45", "weeks": [3, 1, 3]}


def test_what_the_client_sends_reads_whole() -> None:
    body = SyncUpload.model_validate({"client_uuid": "c-1", "courses": [COURSE], "schedule_entries": [ENTRY]})
    assert body.courses[0].name == "Maths" and body.courses[0].location == ""
    assert body.schedule_entries[0].weeks == [1, 3]  # sorted, once each


def test_unknown_fields_are_ignored_and_nulls_read_as_empty() -> None:
    body = SyncUpload.model_validate({
        "client_uuid": "c-1", "timestamp": 5, "settings": {},
        "courses": [{**COURSE, "teacher": None, "color": None, "location": None, "new": 1}],
        "schedule_entries": None,
    })  # fmt: skip
    course = body.courses[0]
    assert (course.teacher, course.color, course.location) == ("", "", "")
    assert body.schedule_entries == []
    assert not hasattr(course, "new")
    registration = ClientRegistration.model_validate({"uuid": "c-1", "name": None, "api_url": None, "os": "win"})
    assert (registration.name, registration.api_url) == ("", "")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"client_uuid": "bad id"}, "client_uuid"),
        ({"client_uuid": "../etc"}, "client_uuid"),
        ({"courses": []}, "client_uuid"),
        ({"client_uuid": "c", "courses": [{"id": 1}]}, "name"),
        ({"client_uuid": "c", "courses": [{"id": -1, "name": "x"}]}, "id"),
        ({"client_uuid": "c", "courses": [{"id": 2**60, "name": "x"}]}, "id"),
        ({"client_uuid": "c", "courses": [COURSE, COURSE]}, "duplicate id"),
        ({"client_uuid": "c", "courses": [{**COURSE, "name": "x" * 257}]}, "name"),
        ({"client_uuid": "c", "schedule_entries": [ENTRY, ENTRY]}, "duplicate id"),
        ({"client_uuid": "c", "schedule_entries": [{**ENTRY, "day_of_week": 0}]}, "day_of_week"),
        ({"client_uuid": "c", "schedule_entries": [{**ENTRY, "start_time": "24:00"}]}, "start_time"),
        ({"client_uuid": "c", "schedule_entries": [{**ENTRY, "weeks": [101]}]}, "weeks"),
        ({"client_uuid": "c", "schedule_entries": [{**ENTRY, "weeks": list(range(102))}]}, "weeks"),
        ({"client_uuid": "c", "courses": [{**COURSE, "id": i} for i in range(MAX_SYNC_COURSES + 1)]}, "courses"),
    ],
)
def test_what_no_client_sends_is_refused_with_the_field_named(body: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SyncUpload.model_validate(body)
    assert where in str(caught.value)
