"""The store's one exception (its own module: the schema check and the lock raise it without importing the store)."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be opened, is newer than this LMS, is in use, or is not open."""
