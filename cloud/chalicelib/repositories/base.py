"""What every repository does the same way: translate PynamoDB's errors, read one item, read one page of a Query
behind an opaque cursor, create an item only if its key is free, write several items in one transaction, and make
time-ordered sort keys."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from pynamodb.attributes import Attribute
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chalicelib.domain.page import Page, check_limit
from chalicelib.errors import BadRequest, Conflict, StaleWrite, UpstreamError

M = TypeVar("M", bound=Model)
T = TypeVar("T")

_CONDITION_FAILED = "ConditionalCheckFailedException"
#: a Query's start key, as PynamoDB takes it (``last_evaluated_key``)
StartKey = dict[str, dict[str, str]] | None


class TenantRepository:
    """A repository of a table whose items carry the tenant (a constant-partition index lists them)."""

    def __init__(self, tenant: str) -> None:
        self._tenant = tenant


@contextmanager
def dynamo_errors(what: str) -> Iterator[None]:
    """Turn PynamoDB exceptions into cloud errors: a failed condition is a :class:`StaleWrite`."""
    try:
        yield
    except PynamoDBException as exc:
        if exc.cause_response_code == _CONDITION_FAILED:
            raise StaleWrite(f"{what}: the stored record changed meanwhile") from exc
        raise UpstreamError(f"{what}: DynamoDB error {exc.cause_response_code or type(exc).__name__}") from exc


def read_item(model: type[M], hash_key: Any, range_key: Any = None, *, what: str,
              consistent: bool = False) -> M | None:
    """The item with this key, or ``None``."""
    with dynamo_errors(what):
        try:
            return model.get(hash_key, range_key, consistent_read=consistent)
        except model.DoesNotExist:
            return None


def read_page(query: Callable[[StartKey], ResultIterator[M]], key_names: frozenset[str], *, limit: int,
              cursor: str | None, convert: Callable[[M], T | None], what: str) -> Page[T]:
    """One page of ``query(start_key)`` (which passes ``limit``): the items ``convert`` keeps, and a cursor when the
    page is full."""
    check_limit(limit)
    with dynamo_errors(what):
        result = query(decode_cursor(cursor, key_names))
        items = [kept for kept in map(convert, result) if kept is not None]
        return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)


def create_item(item: Model, key: Attribute[Any], *, what: str, conflict: str) -> None:
    """Save ``item`` only if no item has its key (``key``: the model's hash key attribute); else :class:`Conflict`."""
    try:
        with dynamo_errors(what):
            item.save(condition=key.does_not_exist())
    except StaleWrite:
        raise Conflict(conflict) from None


@contextmanager
def transaction(model: type[Model], *, what: str, stale: str) -> Iterator[TransactWrite]:
    """Writes that happen all or not at all (one ``TransactWriteItems``); a failed condition (a versioned item that
    changed meanwhile) is a :class:`StaleWrite` saying ``stale``."""
    try:
        with TransactWrite(connection=model._get_connection().connection) as writes:
            yield writes
    except TransactWriteError as exc:
        reasons = [r.code for r in (exc.cancellation_reasons or []) if r is not None]
        if "ConditionalCheckFailed" in reasons:
            raise StaleWrite(stale) from exc
        raise UpstreamError(f"{what}: DynamoDB error {exc.cause_response_code}") from exc


def day_of(at: float) -> str:
    """The UTC day of ``at``: ``YYYY-MM-DD`` (the partition of day-partitioned tables)."""
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")


def sort_key(at: float, suffix: str = "") -> str:
    """A sort key in time order: ``<epoch ms, 15 digits>#<suffix>``."""
    return f"{int(at * 1000):015d}#{suffix}"


def expiry(at: float) -> datetime:
    """A TTL attribute's value for the epoch second ``at``."""
    return datetime.fromtimestamp(at, tz=UTC)


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_names: frozenset[str]) -> StartKey:
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
