"""The ClassTop desktop client's sync bodies, as it sends them, read one way by the LMS and by the cloud.

Both serve the same five sync endpoints (``docs/classtop.md#http-sync-five-endpoints-no-credentials``) to the same
unchanged client, so both parse ``POST /api/clients/register`` and ``POST /api/sync`` with these models. They read
tolerantly — unknown fields are ignored (a newer client adding a field must never be refused) and ``null`` where the
client may send it reads as empty — and bound everything they keep. Where each tier stores the data (SQLite,
DynamoDB) and how big a whole snapshot may be there stays with that tier.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared import topics
from shared.commands import TIME_PATTERN

MAX_SYNC_COURSES = 2000
MAX_SYNC_ENTRIES = 10000
#: Teaching weeks are numbered 0-``MAX_SYNC_WEEK`` (a term's weeks, with room for long school years).
MAX_SYNC_WEEK = 100
MAX_ID = 2**53  # the client's ids are JavaScript-safe integers


def _valid_client_uuid(value: str, info: ValidationInfo) -> str:
    if not topics.is_valid_id(value):
        raise ValueError(f"{info.field_name} must be 1-64 letters, digits, '-' or '_'")
    return value


#: A ClassTop client's id on the wire (``uuid``, ``client_uuid``): usable as a topic id.
ClientUuid = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra={"pattern": topics.ID_PATTERN}),
    AfterValidator(_valid_client_uuid),
]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


#: An integer of the wire: a JSON number (``true``/``false`` are not 1/0 here, as JSON Schema says).
WireInt = Annotated[int, BeforeValidator(_not_bool)]


class ClassTopWire(BaseModel):
    """A body the ClassTop client sends: unknown fields ignored; the fields we keep typed and bounded."""

    model_config = ConfigDict(extra="ignore")


def _empty_if_null(value: Any) -> Any:
    return "" if value is None else value


#: A string the client may send as ``null`` (taken as ``""``), as JSON Schema says it.
_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}


class ClientRegistration(ClassTopWire):
    """``POST /api/clients/register`` — sent again at every start of the client (idempotent)."""

    uuid: ClientUuid
    name: str = Field(default="", max_length=200, json_schema_extra=_OR_NULL)
    api_url: str = Field(default="", max_length=2048, json_schema_extra=_OR_NULL)

    _nulls = field_validator("name", "api_url", mode="before")(_empty_if_null)


class SyncCourse(ClassTopWire):
    id: WireInt = Field(ge=0, le=MAX_ID, description="the client's own course id")
    name: str = Field(max_length=256)
    teacher: str = Field(default="", max_length=256, json_schema_extra=_OR_NULL)
    location: str = Field(
        default="", max_length=256, json_schema_extra=_OR_NULL, description="never sent by ClassTop; kept if given"
    )
    color: str = Field(default="", max_length=32, json_schema_extra=_OR_NULL)
    note: str | None = Field(default=None, max_length=4096)

    _nulls = field_validator("teacher", "location", "color", mode="before")(_empty_if_null)


class SyncEntry(ClassTopWire):
    id: WireInt = Field(ge=0, le=MAX_ID, description="the client's own entry id")
    course_id: WireInt = Field(ge=0, le=MAX_ID)
    day_of_week: WireInt = Field(ge=1, le=7, description="1 = Monday")
    start_time: str = Field(pattern=TIME_PATTERN)
    end_time: str = Field(pattern=TIME_PATTERN)
    weeks: list[int] = Field(default_factory=list, max_length=MAX_SYNC_WEEK + 1, json_schema_extra={
        "type": ["array", "null"], "items": {"type": "integer", "minimum": 0, "maximum": MAX_SYNC_WEEK},
    })  # fmt: skip

    @field_validator("weeks", mode="before")
    @classmethod
    def _null_weeks(cls, weeks: Any) -> Any:
        if isinstance(weeks, list) and any(isinstance(w, bool) for w in weeks):
            raise ValueError("weeks are numbers, not true/false")
        return [] if weeks is None else weeks

    @field_validator("weeks")
    @classmethod
    def _weeks(cls, weeks: list[int]) -> list[int]:
        if any(w < 0 or w > MAX_SYNC_WEEK for w in weeks):
            raise ValueError(f"weeks are numbers 0-{MAX_SYNC_WEEK}")
        return sorted(set(weeks))


def _first_repeat(ids: list[int]) -> int | None:
    seen: set[int] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    return None


#: A list the client may send as ``null`` (taken as empty), as JSON Schema says it.
_NULLABLE: dict[str, Any] = {"type": ["array", "null"]}


class SyncTimetable(ClassTopWire):
    """Courses and schedule entries: either list may be empty or ``null``; ids unique within each."""

    courses: list[SyncCourse] = Field(default_factory=list, max_length=MAX_SYNC_COURSES, json_schema_extra=_NULLABLE)
    schedule_entries: list[SyncEntry] = Field(
        default_factory=list, max_length=MAX_SYNC_ENTRIES, json_schema_extra=_NULLABLE
    )

    @field_validator("courses", "schedule_entries", mode="before")
    @classmethod
    def _null_lists(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        for name, ids in (("courses", [c.id for c in self.courses]),
                          ("schedule_entries", [e.id for e in self.schedule_entries])):  # fmt: skip
            repeated = _first_repeat(ids)
            if repeated is not None:
                raise ValueError(f"{name}: duplicate id {repeated}")
        return self


class SyncUpload(SyncTimetable):
    """``POST /api/sync``: the client's full snapshot (ids absent from it are deleted)."""

    client_uuid: ClientUuid
