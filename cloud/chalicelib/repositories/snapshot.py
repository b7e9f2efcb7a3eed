"""Per-owner snapshots (``SnapshotModel``): a ClassTop client's courses and schedule (written by
``ClassTopClientRepository`` with the client item), an agent's camera configs and latest camera status (written
with a version check)."""

from __future__ import annotations

import json

from chalicelib.domain.snapshot import Snapshot
from chalicelib.models.snapshot import SnapshotModel
from chalicelib.repositories.base import dynamo_errors, read_item


def snapshot_item(snapshot: Snapshot) -> SnapshotModel:
    """The item of ``snapshot`` (its ``body`` as compact JSON text, ``size`` its length in bytes)."""
    body = json.dumps(snapshot.body, separators=(",", ":"))
    return SnapshotModel(snapshot.owner, snapshot.kind, body=body, size=len(body.encode()), version=snapshot.version,
                         updated_at=snapshot.updated_at)


class SnapshotRepository:
    def get(self, owner: str, kind: str) -> Snapshot | None:
        item = read_item(SnapshotModel, owner, kind, what=f"read {kind} of {owner}", consistent=True)
        if item is None:
            return None
        return Snapshot(owner, kind, json.loads(item.body), int(item.version), float(item.updated_at), int(item.size))

    def put(self, snapshot: Snapshot, expected_version: int) -> Snapshot:
        """Write ``snapshot`` if the stored version is still ``expected_version`` (0: none stored), else
        :class:`StaleWrite`. ``snapshot.version`` should be ``expected_version + 1``."""
        item = snapshot_item(snapshot)
        condition = (SnapshotModel.owner.does_not_exist() if expected_version == 0
                     else SnapshotModel.version == expected_version)
        with dynamo_errors(f"write {snapshot.kind} of {snapshot.owner}"):
            item.save(condition=condition)
        return Snapshot(snapshot.owner, snapshot.kind, snapshot.body, snapshot.version, snapshot.updated_at,
                        int(item.size))
