"""One page of a listing and its opaque continuation cursor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    #: pass back as ``cursor`` to get the next page; ``None`` on the last page.
    cursor: str | None = None

    def to_dict(self, key: str, fn: Callable[[T], Any]) -> dict[str, Any]:
        return {key: [fn(item) for item in self.items], "cursor": self.cursor}
