"""Per-owner snapshots (``SnapshotModel``) written with a version check: the camera configs of an agent, the
latest camera status."""

from __future__ import annotations

import json

from chalicelib.domain.snapshot import Snapshot
from chalicelib.models.snapshot import SnapshotModel
from chalicelib.repositories.dynamo import dynamo_errors


class SnapshotRepository:
    def get(self, owner: str, kind: str) -> Snapshot | None:
        with dynamo_errors(f"read {kind} of {owner}"):
            try:
                item = SnapshotModel.get(owner, kind, consistent_read=True)
            except SnapshotModel.DoesNotExist:
                return None
        return Snapshot(owner, kind, json.loads(item.body), int(item.version), float(item.updated_at), int(item.size))

    def put(self, snapshot: Snapshot, expected_version: int) -> Snapshot:
        """Write ``snapshot`` if the stored version is still ``expected_version`` (0: none stored), else
        :class:`StaleWrite`. ``snapshot.version`` should be ``expected_version + 1``."""
        body = json.dumps(snapshot.body, separators=(",", ":"))
        item = SnapshotModel(snapshot.owner, snapshot.kind, body=body, size=len(body.encode()),
                             version=snapshot.version, updated_at=snapshot.updated_at)
        condition = (SnapshotModel.owner.does_not_exist() if expected_version == 0
                     else SnapshotModel.version == expected_version)
        with dynamo_errors(f"write {snapshot.kind} of {snapshot.owner}"):
            item.save(condition=condition)
        return Snapshot(snapshot.owner, snapshot.kind, snapshot.body, snapshot.version, snapshot.updated_at,
                        len(body.encode()))
