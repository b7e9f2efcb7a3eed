"""The request bodies of the routes of ``chalicelib/api/logs.py``: imported when one of them is first
called or the OpenAPI document is built (``api/routes.py``)."""

from __future__ import annotations

import math
from typing import Any, TypeGuard

from pydantic import model_validator

from chalicelib.api.bodies.request_body import RequestBody
from shared.log_export import MAX_RANGE_S, LogRange


class LogsBody(RequestBody, LogRange):
    """Which records (epoch seconds; without ``since`` and ``until``: the last hour), the least level, and the
    gzip object's size cap (the newest records that fit). A range of more than 31 days is cut to its last 31 days
    (the newest records, as ``max_bytes`` keeps them); ``since`` after ``until`` is the empty range at ``until``."""

    @model_validator(mode="before")
    @classmethod
    def _newest_range(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        since, until = data.get("since"), data.get("until")
        if _finite(since) and _finite(until) and since >= 0 and until >= 0:
            data = {**data, "since": max(min(since, until), until - MAX_RANGE_S)}
        return data


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
