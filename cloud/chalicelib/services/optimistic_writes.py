"""Optimistic concurrency, done one way: an attempt reads a record, changes it and writes it back only if nobody
wrote it in between (the repository raises :class:`StaleWrite` when somebody did); a lost race is tried again
from the read, a few times, and then the caller's error is raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib.errors import CloudError, StaleWrite

T = TypeVar("T")

#: how many times a read-modify-write is tried before it gives up
WRITE_ATTEMPTS = 5


def retry_stale(attempt: Callable[[], T], exhausted: CloudError, attempts: int = WRITE_ATTEMPTS) -> T:
    """What ``attempt()`` returns once it does not lose its race (:class:`StaleWrite`), trying it at most
    ``attempts`` times; then ``exhausted`` is raised."""
    for _ in range(attempts):
        try:
            return attempt()
        except StaleWrite:
            continue
    raise exhausted
