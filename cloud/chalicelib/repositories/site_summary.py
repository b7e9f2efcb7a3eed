"""The tenant's overview summary: :data:`SHARDS` items of the ``change_mark`` table, keyed
``site_summary#<SHARDS>#<n>``, each holding the entries of the sites and ClassTop clients whose id hashes to ``n``
(docs/data-model.md#the-overview-summary). The overview reads them in one BatchGetItem instead of every site and
client.

Entries are written one map key at a time (``SET sites.<id> = :entry``), never by rewriting the item, so writers of
different sites never lose each other's changes; a site's entry carries the site item's ``revision`` (``r``) and is
written only over an entry of the same or a lower one (a late writer never puts an older state back). ``beats`` (each
site's last heartbeat as the minute's pass saw it) is written whole, by that pass alone.

The key names the shard count: a release that changes :data:`SHARDS` finds no items under the new keys and builds
them again (``services/site_summaries.py``), the old ones left unread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import StaleWrite
from chalicelib.models.change_mark import ChangeMarkModel
from chalicelib.repositories.base import dynamo_errors

#: how many items hold the summary: at 250 sites (10,000 agents in sites of 40) an item is about 7 KB
SHARDS = 3
PREFIX = "site_summary"
#: keys written by one UpdateItem (its expressions must stay under DynamoDB's 4 KB)
_CHUNK = 20

Entry = dict[str, Any]


def shard_of(key: str) -> int:
    """The shard of a site id or client uuid (stable across processes: not Python's ``hash``)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % SHARDS


def shard_key(n: int) -> str:
    return f"{PREFIX}#{SHARDS}#{n}"


@dataclass(frozen=True, slots=True)
class Summary:
    """Every entry of the summary's items: per site, its last heartbeat as the minute's pass saw it, per client."""

    sites: dict[str, Entry] = field(default_factory=dict)
    beats: dict[str, float] = field(default_factory=dict)
    clients: dict[str, Entry] = field(default_factory=dict)


def _plain(value: Any) -> dict[str, Any]:
    return {} if value is None else dict(value.attribute_values)


class SiteSummaryRepository:
    def read(self) -> Summary | None:
        """The whole summary (one BatchGetItem, eventually consistent), or ``None`` while any item is missing (a
        tenant whose summary was never built)."""
        found: dict[str, ChangeMarkModel] = {}
        with dynamo_errors("read the overview summary"):
            for item in ChangeMarkModel.batch_get([shard_key(n) for n in range(SHARDS)]):
                found[item.area] = item
        if len(found) < SHARDS:
            return None
        summary = Summary()
        for item in found.values():
            summary.sites.update(_plain(item.sites))
            summary.beats.update({k: float(v) for k, v in _plain(item.beats).items()})
            summary.clients.update(_plain(item.clients))
        return summary

    def create(self, summary: Summary) -> None:
        """Write each item whole, only where none exists (a concurrent builder's item is kept as it is)."""
        for n in range(SHARDS):
            item = ChangeMarkModel(
                shard_key(n),
                sites=_of_shard(summary.sites, n),
                clients=_of_shard(summary.clients, n),
                beats=_of_shard(summary.beats, n),
            )
            try:
                with dynamo_errors("build the overview summary"):
                    item.save(condition=ChangeMarkModel.area.does_not_exist())
            except StaleWrite:
                continue

    def put_sites(self, entries: Mapping[str, Entry]) -> set[str]:
        """Write each site's entry unless its stored one has a higher ``r``; the sites not written (a newer entry
        kept, or no summary yet) are returned. One UpdateItem per shard and :data:`_CHUNK` sites; a chunk whose
        condition fails is retried site by site."""
        kept: set[str] = set()
        for chunk in _chunks(entries):
            if not self._put_sites(chunk):
                for site_id, entry in chunk.items():
                    if not self._put_sites({site_id: entry}):
                        kept.add(site_id)
        return kept

    def _put_sites(self, entries: Mapping[str, Entry]) -> bool:
        sites = ChangeMarkModel.sites
        condition = ChangeMarkModel.area.exists()
        for site_id, entry in entries.items():
            condition &= sites[site_id].does_not_exist() | (sites[site_id]["r"] <= entry["r"])
        return self._update(next(iter(entries)), [sites[k].set(v) for k, v in entries.items()], condition)

    def put_clients(self, entries: Mapping[str, Entry]) -> None:
        """Write each client's entry (the minute's pass is their only writer)."""
        for chunk in _chunks(entries):
            self._update(
                next(iter(chunk)),
                [ChangeMarkModel.clients[k].set(v) for k, v in chunk.items()],
                ChangeMarkModel.area.exists(),
            )

    def put_beats(self, shard: int, beats: Mapping[str, float]) -> None:
        """Replace one item's ``beats`` whole."""
        with dynamo_errors("write the overview summary's heartbeats"):
            ChangeMarkModel(shard_key(shard)).update(
                actions=[ChangeMarkModel.beats.set(dict(beats))], condition=ChangeMarkModel.area.exists()
            )

    def remove(self, *, sites: Iterable[str] = (), clients: Iterable[str] = ()) -> None:
        """Drop entries (and a site's heartbeat): sites removed or retired, clients deleted."""
        names = [("sites", s) for s in sites] + [("clients", c) for c in clients]
        for shard in range(SHARDS):
            mine = [(kind, key) for kind, key in names if shard_of(key) == shard]
            for start in range(0, len(mine), _CHUNK):
                actions = []
                for kind, key in mine[start : start + _CHUNK]:
                    actions.append(getattr(ChangeMarkModel, kind)[key].remove())
                    if kind == "sites":
                        actions.append(ChangeMarkModel.beats[key].remove())
                self._update(mine[start][1], actions, ChangeMarkModel.area.exists())

    @staticmethod
    def _update(any_key: str, actions: list[Any], condition: Any) -> bool:
        """One UpdateItem of the shard of ``any_key``; ``False`` when its condition failed."""
        try:
            with dynamo_errors("update the overview summary"):
                ChangeMarkModel(shard_key(shard_of(any_key))).update(actions=actions, condition=condition)
        except StaleWrite:
            return False
        return True


def _of_shard(entries: Mapping[str, Any], n: int) -> dict[str, Any]:
    return {k: v for k, v in entries.items() if shard_of(k) == n}


def _chunks(entries: Mapping[str, Entry]) -> Iterable[dict[str, Entry]]:
    """``entries`` by shard, at most :data:`_CHUNK` a piece."""
    for n in range(SHARDS):
        mine = list(_of_shard(entries, n).items())
        for start in range(0, len(mine), _CHUNK):
            yield dict(mine[start : start + _CHUNK])
