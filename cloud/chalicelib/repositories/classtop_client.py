"""ClassTop clients and their snapshots: ``ClassTopClientModel`` / ``SnapshotModel`` items <-> domain objects.

A sync replaces the client's courses and schedule snapshots and updates the client item in one DynamoDB
transaction, so a failed sync leaves the previous snapshot whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.domain.page import Page
from chalicelib.domain.snapshot import Snapshot
from chalicelib.models.classtop_client import ClassTopClientModel
from chalicelib.repositories.base import TenantRepository, create_item, dynamo_errors, read_item, read_page, transaction
from chalicelib.repositories.snapshot import SnapshotRepository, snapshot_item

_TENANT_KEYS = frozenset({"client_uuid", "tenant"})
_PENDING_KEYS = frozenset({"client_uuid", "pending_tenant"})


class ClassTopClientRepository(TenantRepository):
    def __init__(self, tenant: str) -> None:
        super().__init__(tenant)
        self._snapshots = SnapshotRepository()

    def get(self, client_uuid: str) -> ClassTopClient | None:
        item = read_item(ClassTopClientModel, client_uuid, what=f"read client {client_uuid}", consistent=True)
        return None if item is None else _to_client(item)

    def create(self, client: ClassTopClient) -> ClassTopClient:
        item = self._to_item(client)
        create_item(
            item,
            ClassTopClientModel.client_uuid,
            what=f"create client {client.client_uuid}",
            conflict=f"client {client.client_uuid} already exists",
        )
        return _to_client(item)

    def save(self, client: ClassTopClient) -> ClassTopClient:
        item = self._to_item(client)
        with dynamo_errors(f"write client {client.client_uuid}"):
            item.save()
        return _to_client(item)

    def page(self, *, pending_only: bool = False, limit: int = 100, cursor: str | None = None) -> Page[ClassTopClient]:
        index, keys = (
            (ClassTopClientModel.by_pending, _PENDING_KEYS)
            if pending_only
            else (ClassTopClientModel.by_tenant, _TENANT_KEYS)
        )
        return read_page(
            lambda start: index.query(self._tenant, limit=limit, last_evaluated_key=start),
            keys,
            limit=limit,
            cursor=cursor,
            convert=_to_client,
            what="list clients",
        )

    def snapshot(self, client_uuid: str, kind: str) -> Snapshot | None:
        """The client's latest upload of ``kind`` (``courses`` or ``schedule``)."""
        return self._snapshots.get(client_uuid, kind)

    def touch(self, client: ClassTopClient, at: float) -> None:
        """Set the client's ``last_sync_at`` alone (one UpdateItem; the revision moves on); the item must still be
        at ``client.revision`` (else :class:`StaleWrite`)."""
        item = self._to_item(client)
        with dynamo_errors(f"touch client {client.client_uuid}"):
            item.update(actions=[ClassTopClientModel.last_sync_at.set(at)])

    def replace_snapshots(self, client: ClassTopClient, snapshots: Sequence[Snapshot]) -> ClassTopClient:
        """Write ``snapshots`` (the kinds that changed) and ``client`` in one transaction (all or nothing); the
        client item must still be at ``client.revision`` (else :class:`StaleWrite`)."""
        item = self._to_item(client)
        with transaction(
            ClassTopClientModel,
            what=f"sync of {client.client_uuid}",
            stale=f"client {client.client_uuid} changed meanwhile",
        ) as writes:
            for snap in snapshots:
                writes.save(snapshot_item(snap))
            writes.save(item)
        item.revision = (client.revision or 0) + 1
        return _to_client(item)

    def _to_item(self, client: ClassTopClient) -> ClassTopClientModel:
        item = ClassTopClientModel(
            client.client_uuid,
            tenant=self._tenant,
            name=client.name,
            api_url=client.api_url,
            approval=client.approval.value,
            pending_tenant=self._tenant if client.approval is Approval.PENDING else None,
            registered_at=client.registered_at,
            last_sync_at=client.last_sync_at,
            course_count=client.course_count,
            entry_count=client.entry_count,
            digest=client.digest,
        )
        if client.revision is not None:
            item.revision = client.revision
        return item


def _to_client(item: ClassTopClientModel) -> ClassTopClient:
    return ClassTopClient(
        client_uuid=item.client_uuid,
        name=item.name or "",
        api_url=item.api_url or "",
        approval=Approval(item.approval),
        registered_at=float(item.registered_at),
        last_sync_at=None if item.last_sync_at is None else float(item.last_sync_at),
        course_count=int(item.course_count or 0),
        entry_count=int(item.entry_count or 0),
        digest=item.digest,
        revision=item.revision,
    )
