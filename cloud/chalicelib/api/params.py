"""The query parameters a route reads, declared once (``Router.route(..., query=(LIMIT, CURSOR))``): their JSON
schema for the OpenAPI document and the check :class:`~chalicelib.api.routes.Router` runs before the view, so
what the document allows passes and anything else is a 400 naming the parameter. Views then read the checked
values with ``query_int`` / ``query_float`` / ``query_str`` (``http.py``).

Every query parameter is optional; an empty value (``?site_id=``) of a string parameter means "not given", as the
console sends it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.page import MAX_PAGE_SIZE
from chalicelib.errors import BadRequest

_INTEGER_RE = re.compile(r"-?[0-9]{1,18}")
#: a JSON number's grammar, any number of digits (``float`` reads them in linear time; the bounds decide the rest)
_NUMBER_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")

#: what a pagination cursor looks like (base64url of the page's last key): anything else is refused, as is a
#: cursor of this shape the API did not make
CURSOR_FORMAT = "cursor"
CURSOR_MAX_CHARS = 2048


@dataclass(frozen=True, slots=True)
class Query:
    """One optional query parameter: ``kind`` is ``string``, ``integer`` or ``number``."""

    name: str
    description: str
    kind: str = "string"
    minimum: float | None = None
    maximum: float | None = None
    #: a regular expression the whole value must match (strings)
    pattern: str | None = None
    #: the values it may take (strings)
    enum: tuple[str, ...] | None = None
    max_length: int | None = None
    #: an OpenAPI ``format`` (documentation and generators)
    format: str | None = None

    @property
    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.kind}
        if self.enum is not None:
            schema["enum"] = ["", *self.enum]
        if self.pattern is not None:
            schema["pattern"] = f"^(?:{self.pattern.removeprefix('^').removesuffix('$')})?$"
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if self.format is not None:
            schema["format"] = self.format
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema

    def document(self) -> dict[str, Any]:
        return {"name": self.name, "in": "query", "required": False, "description": self.description,
                "schema": self.schema}

    def check(self, raw: str) -> None:
        """A 400 naming the parameter unless ``raw`` is a value the schema allows."""
        if self.kind == "string":
            self._check_string(raw)
            return
        pattern = _INTEGER_RE if self.kind == "integer" else _NUMBER_RE
        if not pattern.fullmatch(raw) or not math.isfinite(value := float(raw)):
            raise BadRequest(f"{self.name}: must be {'an integer' if self.kind == 'integer' else 'a number'}")
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if not low <= value <= high:
            raise BadRequest(f"{self.name}: must be between {low:g} and {high:g}")

    def _check_string(self, raw: str) -> None:
        if raw == "":
            return
        if self.max_length is not None and len(raw) > self.max_length:
            raise BadRequest(f"{self.name}: at most {self.max_length} characters")
        if self.enum is not None and raw not in self.enum:
            raise BadRequest(f"{self.name}: one of {', '.join(self.enum)}")
        if self.pattern is not None and not re.fullmatch(self.pattern.removeprefix("^").removesuffix("$"), raw):
            raise BadRequest(f"{self.name}: invalid {raw[:80]!r}")


def limit(default: int, maximum: int = MAX_PAGE_SIZE) -> Query:
    return Query("limit", f"items per page (default {default})", "integer", minimum=1, maximum=maximum)


#: the ``cursor`` of the previous page's answer (absent or empty: the first page)
CURSOR = Query("cursor", "the cursor of the previous page's answer (opaque; absent: the first page)",
               pattern=r"[A-Za-z0-9_=-]+", max_length=CURSOR_MAX_CHARS, format=CURSOR_FORMAT)
