"""Rows as records: JSON columns, rows as dicts, and the optional filters of a listing query."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from shared.errors import MessageError
from shared.messages import load_json


def json_or_none(text: str | None) -> Any:
    """A JSON column's value; ``None`` for NULL, text that is not JSON, or JSON no answer could carry (nested too
    deep, NaN or infinite numbers: what an older LMS stored before intake refused them)."""
    if text is None:
        return None
    try:
        return load_json(text, max_bytes=sys.maxsize)
    except MessageError:
        return None


#: one encoder for every row (``json.dumps`` with options makes one per call)
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)


def json_text(value: Any) -> str:
    """Compact JSON (anything unknown as its ``str``); ``repr(value)`` as a JSON string when it cannot be encoded."""
    try:
        return _COMPACT.encode(value)
    except (TypeError, ValueError):
        return json.dumps(repr(value))


def records(
    rows: Iterable[Sequence[Any]], keys: Sequence[str], *, json_keys: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Rows as dicts of ``keys`` (in the order of the SELECT), with ``json_keys`` decoded."""
    out = []
    for r in rows:
        row = dict(zip(keys, r, strict=True))
        for key in json_keys:
            row[key] = json_or_none(row[key])
        out.append(row)
    return out


class Where:
    """The ``WHERE`` of a listing with optional filters: a filter whose value is ``None`` is left out."""

    def __init__(self) -> None:
        self._clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, *args: Any) -> Where:
        """Always: ``clause`` with its ``?`` arguments."""
        self._clauses.append(clause)
        self.args.extend(args)
        return self

    def equal(self, column: str, value: Any) -> Where:
        return self if value is None else self.add(f"{column} = ?", value)

    def at_least(self, column: str, value: Any) -> Where:
        return self if value is None else self.add(f"{column} >= ?", value)

    def at_most(self, column: str, value: Any) -> Where:
        return self if value is None else self.add(f"{column} <= ?", value)

    @property
    def sql(self) -> str:
        """`` WHERE a AND b`` (with its leading space), or nothing."""
        return f" WHERE {' AND '.join(self._clauses)}" if self._clauses else ""
