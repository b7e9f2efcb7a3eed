"""The overview's active scopes (``services/overview_feed.py``): one item of the ``change_mark`` table, keyed
``overview_feed``, whose ``scopes`` map holds per scope key (the hash that also names its object) a small entry:
``s`` the scope, ``u`` until when it is active (a feed request moves it on), ``d`` the digest of the object last
written and ``w`` when. The minute's pass reads the item once (one GetItem) and writes an entry only when it wrote
the scope's object, or to drop a scope nobody asked for; a feed request writes only when its scope is new or
about to lapse. Each write sets one map key (``SET scopes.<key>...``), so writers of different scopes never lose
each other's changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.errors import StaleWrite
from chalicelib.models.change_mark import ChangeMarkModel
from chalicelib.repositories.base import dynamo_errors, read_item

KEY = "overview_feed"


@dataclass(frozen=True, slots=True)
class ScopeEntry:
    scope: str
    active_until: float
    digest: str = ""
    written_at: float = 0.0


def _entry(raw: Any) -> ScopeEntry:
    return ScopeEntry(
        str(raw.get("s") or ""), float(raw.get("u") or 0), str(raw.get("d") or ""), float(raw.get("w") or 0)
    )


class OverviewScopeRepository:
    def read(self) -> dict[str, ScopeEntry]:
        """Every recorded scope by key (one eventually consistent GetItem; none recorded: empty)."""
        item = read_item(ChangeMarkModel, KEY, what="read the overview's scopes")
        raw = {} if item is None or item.scopes is None else dict(item.scopes.attribute_values)
        return {k: _entry(v) for k, v in raw.items()}

    def activate(self, key: str, scope: str, until: float) -> None:
        """The scope is active until ``until``: its entry's ``u`` moved on, or a new entry (no object written)."""
        scopes = ChangeMarkModel.scopes
        if self._update([scopes[key]["u"].set(until)], ChangeMarkModel.area.exists() & scopes[key].exists()):
            return
        entry = {"s": scope, "u": until, "d": "", "w": 0}
        if self._update([scopes[key].set(entry)], ChangeMarkModel.area.exists()):
            return
        try:
            with dynamo_errors("record the overview's scopes"):
                ChangeMarkModel(KEY, scopes={key: entry}).save(condition=ChangeMarkModel.area.does_not_exist())
        except StaleWrite:  # made meanwhile by another caller
            self._update([scopes[key].set(entry)], ChangeMarkModel.area.exists())

    def written(self, key: str, digest: str, at: float) -> None:
        """The scope's object now holds the overview of ``digest`` (an entry dropped meanwhile stays dropped)."""
        scopes = ChangeMarkModel.scopes
        self._update([scopes[key]["d"].set(digest), scopes[key]["w"].set(at)], scopes[key].exists())

    def drop(self, key: str, seen_until: float) -> bool:
        """Forget a lapsed scope, unless a feed request moved its ``u`` on since it was read."""
        scopes = ChangeMarkModel.scopes
        return self._update([scopes[key].remove()], scopes[key]["u"] == seen_until)

    @staticmethod
    def _update(actions: list[Any], condition: Any) -> bool:
        try:
            with dynamo_errors("update the overview's scopes"):
                ChangeMarkModel(KEY).update(actions=actions, condition=condition)
        except StaleWrite:
            return False
        return True
