"""Helpers every repository uses: PynamoDB error translation and opaque page cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.exceptions import PynamoDBException

from chalicelib.errors import BadRequest, StaleWrite, UpstreamError

MAX_PAGE_SIZE = 500
_CONDITION_FAILED = "ConditionalCheckFailedException"


@contextmanager
def dynamo_errors(what: str) -> Iterator[None]:
    """Turn PynamoDB exceptions into cloud errors: a failed condition is a :class:`StaleWrite`."""
    try:
        yield
    except PynamoDBException as exc:
        if exc.cause_response_code == _CONDITION_FAILED:
            raise StaleWrite(f"{what}: the stored record changed meanwhile") from exc
        raise UpstreamError(f"{what}: DynamoDB error {exc.cause_response_code or type(exc).__name__}") from exc


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_names: frozenset[str]) -> dict[str, dict[str, str]] | None:
    """Decode a cursor made by :func:`encode_cursor`; anything else is a 400 naming ``cursor``."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest("cursor: not a cursor returned by this API") from None
    if (
        not isinstance(key, dict)
        or not set(key) <= key_names
        or not all(
            isinstance(v, dict) and len(v) == 1 and isinstance(v.get("S"), str) and len(v["S"]) <= 256
            for v in key.values()
        )
    ):
        raise BadRequest("cursor: not a cursor returned by this API")
    return key


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequest(f"limit: must be between 1 and {MAX_PAGE_SIZE}")
    return limit
