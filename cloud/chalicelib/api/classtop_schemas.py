"""Request bodies of the five ClassTop sync endpoints (CLASSTOP-COMPAT.md §1), exactly as the client sends them.

Unknown fields are rejected like everywhere else; ``location`` is accepted (the client never sends it, but an
older client might) and ignored — downloads always return ``""``.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared.messages import Strict
from shared.topics import ID_PATTERN

TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MAX_COURSES = 2000
MAX_ENTRIES = 10000
MAX_WEEK = 60


class _ClassTop(Strict):
    model_config = ConfigDict(extra="forbid", strict=True)


class RegisterClientBody(_ClassTop):
    uuid: str = Field(pattern=ID_PATTERN)
    name: str = Field(default="", max_length=128)
    api_url: str = Field(default="", max_length=2048)

    @field_validator("name", "api_url", mode="before")
    @classmethod
    def _null_is_empty(cls, v: Any) -> Any:
        return "" if v is None else v


class SyncCourse(_ClassTop):
    id: int = Field(ge=0, le=2**53)
    name: str = Field(max_length=256)
    teacher: str | None = Field(default="", max_length=256)
    location: str | None = Field(default=None, max_length=256)
    color: str | None = Field(default="", max_length=32)
    note: str | None = Field(default=None, max_length=4096)

    def to_stored(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "teacher": self.teacher or "", "color": self.color or "",
                "note": self.note}


class SyncEntry(_ClassTop):
    id: int = Field(ge=0, le=2**53)
    course_id: int = Field(ge=0, le=2**53)
    day_of_week: int = Field(ge=1, le=7)
    start_time: str = Field(pattern=TIME_PATTERN)
    end_time: str = Field(pattern=TIME_PATTERN)
    weeks: list[int] | None = Field(default=None, max_length=MAX_WEEK)

    @field_validator("weeks")
    @classmethod
    def _weeks_in_range(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(not 1 <= w <= MAX_WEEK for w in v):
            raise ValueError(f"weeks must be between 1 and {MAX_WEEK}")
        return v

    def to_stored(self) -> dict[str, Any]:
        return {"id": self.id, "course_id": self.course_id, "day_of_week": self.day_of_week,
                "start_time": self.start_time, "end_time": self.end_time, "weeks": list(self.weeks or [])}


class SyncBody(_ClassTop):
    client_uuid: str = Field(pattern=ID_PATTERN)
    courses: list[SyncCourse] = Field(default_factory=list, max_length=MAX_COURSES)
    schedule_entries: list[SyncEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)

    @field_validator("courses", "schedule_entries", mode="before")
    @classmethod
    def _null_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        for name, rows in (("courses", self.courses), ("schedule_entries", self.schedule_entries)):
            seen: set[int] = set()
            for row in rows:
                if row.id in seen:
                    raise ValueError(f"{name}: duplicate id {row.id}")
                seen.add(row.id)
        return self
