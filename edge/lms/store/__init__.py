"""The LMS's SQLite database: one connection shared by the features (``Store``), the writer thread that
group-commits their journals (``Batcher``), and the small helpers for JSON columns."""

from __future__ import annotations

from edge.lms.store.batcher import Batcher
from edge.lms.store.database import (
    DEAD_LIST_MAX,
    MIGRATIONS,
    SCHEMA_VERSION,
    ClientRow,
    DeadLetter,
    OutboxItem,
    Store,
    StoreError,
    json_or_none,
)

__all__ = [
    "DEAD_LIST_MAX",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Batcher",
    "ClientRow",
    "DeadLetter",
    "OutboxItem",
    "Store",
    "StoreError",
    "json_or_none",
]
