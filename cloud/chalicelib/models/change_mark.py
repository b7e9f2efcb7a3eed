"""Table ``…-change_mark``: one item per polled area of the API (``agents``, ``sites``, ``commands``, ``events``)
whose ``revision`` grows by one (an atomic ADD, no read) with every write to that area. The dashboard's polls read
the marks (one BatchGetItem) to answer ``304 Not Modified`` without reading the area itself.

The same table holds the tenant's overview summary (``repositories/site_summary.py``): a few items keyed
``site_summary#<shards>#<n>`` whose ``sites``, ``beats`` and ``clients`` maps hold one small entry per site and
per ClassTop client, so that the overview reads those items instead of every site and client
(docs/data-model.md#the-overview-summary), and the overview's active scopes (``repositories/overview_scope.py``:
one item, ``overview_feed``, whose ``scopes`` map holds one small entry per scope the dashboard polls).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel


class ChangeMarkModel(BaseModel, aggregate="change_mark"):
    area = UnicodeAttribute(hash_key=True)
    revision = NumberAttribute(default=0)
    changed_at = NumberAttribute(default=0)
    #: overview summary items only: site id -> entry, client uuid -> entry (raw maps, updated one key at a time)
    sites: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    clients: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    #: site id -> its last heartbeat as the minute's pass last saw it (written whole by that pass alone)
    beats: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
    #: the ``overview_feed`` item only: scope key -> {scope, active until, digest and time of the object written}
    scopes: MapAttribute[str, Any] = MapAttribute(null=True)  # type: ignore[no-untyped-call]
