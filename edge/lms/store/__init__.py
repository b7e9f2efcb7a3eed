"""The LMS's SQLite database: one connection shared by the features (``Store``) with its versioned schema
(``Migration``; the list is :data:`edge.lms.schema.MIGRATIONS`), the writer thread that group-commits the features'
journals (``Batcher``), and the helpers for listings and JSON columns."""

from __future__ import annotations

from edge.lms.store.batcher import Batcher
from edge.lms.store.database import Migration, Store, StoreError
from edge.lms.store.records import Where, json_or_none, json_text, records

__all__ = ["Batcher", "Migration", "Store", "StoreError", "Where", "json_or_none", "json_text", "records"]
