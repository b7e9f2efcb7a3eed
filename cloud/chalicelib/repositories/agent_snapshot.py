"""Agents' snapshots (``AgentSnapshotModel``), each written only over the ``(epoch, version)`` it was read at."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.models.agent_snapshot import AgentSnapshotModel
from chalicelib.repositories.base import dynamo_errors


@dataclass(frozen=True, slots=True)
class StoredSnapshot:
    agent_id: str
    kind: str
    site_id: str
    epoch: str
    version: int
    hash: str
    data: dict[str, Any]
    updated_at: float
    received_at: float

    def order(self) -> tuple[str, int]:
        return (self.epoch, self.version)

    def to_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "kind": self.kind, "site_id": self.site_id, "epoch": self.epoch,
                "version": self.version, "hash": self.hash, "data": self.data, "updated_at": self.updated_at,
                "received_at": self.received_at}


def _to_stored(item: AgentSnapshotModel) -> StoredSnapshot:
    return StoredSnapshot(item.agent_id, item.kind, item.site_id, item.epoch, int(item.version), item.hash,
                          json.loads(item.body), float(item.updated_at), float(item.received_at))


class AgentSnapshotRepository:
    def get(self, agent_id: str, kind: str) -> StoredSnapshot | None:
        with dynamo_errors(f"read the {kind} snapshot of {agent_id}"):
            try:
                return _to_stored(AgentSnapshotModel.get(agent_id, kind, consistent_read=True))
            except AgentSnapshotModel.DoesNotExist:
                return None

    def list(self, agent_id: str) -> list[StoredSnapshot]:
        with dynamo_errors(f"read the snapshots of {agent_id}"):
            return [_to_stored(i) for i in AgentSnapshotModel.query(agent_id, consistent_read=True)]

    def put(self, snap: StoredSnapshot, previous: StoredSnapshot | None) -> None:
        """Write ``snap`` if the stored item is still ``previous`` (by epoch and version), else
        :class:`~chalicelib.errors.StaleWrite`."""
        item = AgentSnapshotModel(snap.agent_id, snap.kind, site_id=snap.site_id, epoch=snap.epoch,
                                  version=snap.version, hash=snap.hash,
                                  body=json.dumps(snap.data, separators=(",", ":")), updated_at=snap.updated_at,
                                  received_at=snap.received_at)
        if previous is None:
            condition = AgentSnapshotModel.agent_id.does_not_exist()
        else:
            condition = (AgentSnapshotModel.epoch == previous.epoch) & (AgentSnapshotModel.version == previous.version)
        with dynamo_errors(f"write the {snap.kind} snapshot of {snap.agent_id}"):
            item.save(condition=condition)
