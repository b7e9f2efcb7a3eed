"""The LMS's SQLite database: one connection shared by the features (``Store``) with its versioned schema
(``Migration``; the list is :data:`edge.lms.schema.MIGRATIONS`), the writer thread that group-commits the features'
journals (``Batcher``), and the helpers for listings and JSON columns."""

from __future__ import annotations

from edge.lms.store.batcher import Batcher
from edge.lms.store.database import Migration, Store
from edge.lms.store.database_lock import DatabaseLock, DatabaseLocked
from edge.lms.store.records import Where, json_or_none, json_text, records
from edge.lms.store.schema_version import SchemaTooNew, check_schema, stored_schema
from edge.lms.store.store_error import StoreError

__all__ = [
    "Batcher",
    "DatabaseLock",
    "DatabaseLocked",
    "Migration",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "Where",
    "check_schema",
    "json_or_none",
    "json_text",
    "records",
    "stored_schema",
]
