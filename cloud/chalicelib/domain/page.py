"""One page of a listing, its opaque continuation cursor, and how large a page may be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chalicelib.errors import BadRequest

T = TypeVar("T")

MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: pass back as ``cursor`` to get the next page; ``None`` on the last page.
    cursor: str | None = None

    def to_dict(self, key: str, fn: Callable[[T], Any]) -> dict[str, Any]:
        return {key: [fn(item) for item in self.items], "cursor": self.cursor}


def check_limit(limit: int) -> int:
    """``limit`` if a page may hold that many items (1 to :data:`MAX_PAGE_SIZE`); else a 400 naming ``limit``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit: must be between 1 and {MAX_PAGE_SIZE}")
    return limit


def every_item(page_of: Callable[[str | None], Page[T]]) -> list[T]:
    """Every item of a listing, ``page_of(cursor)`` page after page (pages of :data:`MAX_PAGE_SIZE`, say)."""
    out: list[T] = []
    cursor: str | None = None
    while True:
        page = page_of(cursor)
        out.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return out
