"""Table ``…-change_mark``: one item per polled area of the API (``agents``, ``sites``, ``commands``, ``events``)
whose ``revision`` grows by one (an atomic ADD, no read) with every write to that area. The dashboard's polls read
the marks (one BatchGetItem) to answer ``304 Not Modified`` without reading the area itself."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class ChangeMarkModel(BaseModel, aggregate="change_mark"):
    area = UnicodeAttribute(hash_key=True)
    revision = NumberAttribute(default=0)
    changed_at = NumberAttribute(default=0)
