"""ClassTop clients and their snapshots: ``ClassTopClientModel`` / ``SnapshotModel`` items <-> domain objects.

A sync replaces the client's courses and schedule snapshots and updates the client item in one DynamoDB
transaction, so a failed sync leaves the previous snapshot whole.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.approval import Approval
from chalicelib.domain.classtop_client import ClassTopClient
from chalicelib.domain.page import Page
from chalicelib.domain.snapshot import Snapshot
from chalicelib.errors import Conflict, StaleWrite, UpstreamError
from chalicelib.models.classtop_client import ClassTopClientModel
from chalicelib.models.snapshot import SnapshotModel
from chalicelib.repositories.dynamo import check_limit, decode_cursor, dynamo_errors, encode_cursor

_TENANT_KEYS = frozenset({"client_uuid", "tenant"})
_PENDING_KEYS = frozenset({"client_uuid", "pending_tenant"})


class ClassTopClientRepository:
    def __init__(self, tenant: str) -> None:
        self._tenant = tenant

    def get(self, client_uuid: str) -> ClassTopClient | None:
        with dynamo_errors(f"read client {client_uuid}"):
            try:
                return _to_client(ClassTopClientModel.get(client_uuid, consistent_read=True))
            except ClassTopClientModel.DoesNotExist:
                return None

    def create(self, client: ClassTopClient) -> ClassTopClient:
        item = self._to_item(client)
        try:
            with dynamo_errors(f"create client {client.client_uuid}"):
                item.save(condition=ClassTopClientModel.client_uuid.does_not_exist())
        except StaleWrite:
            raise Conflict(f"client {client.client_uuid} already exists") from None
        return _to_client(item)

    def save(self, client: ClassTopClient) -> ClassTopClient:
        item = self._to_item(client)
        with dynamo_errors(f"write client {client.client_uuid}"):
            item.save()
        return _to_client(item)

    def page(self, *, pending_only: bool = False, limit: int = 100, cursor: str | None = None) -> Page[ClassTopClient]:
        check_limit(limit)
        with dynamo_errors("list clients"):
            if pending_only:
                result = ClassTopClientModel.by_pending.query(
                    self._tenant, limit=limit, last_evaluated_key=decode_cursor(cursor, _PENDING_KEYS)
                )
            else:
                result = ClassTopClientModel.by_tenant.query(
                    self._tenant, limit=limit, last_evaluated_key=decode_cursor(cursor, _TENANT_KEYS)
                )
            items = [_to_client(item) for item in result]
            return Page(items, encode_cursor(result.last_evaluated_key) if len(items) == limit else None)

    def snapshot(self, owner: str, kind: str) -> Snapshot | None:
        with dynamo_errors(f"read {kind} of {owner}"):
            try:
                item = SnapshotModel.get(owner, kind, consistent_read=True)
            except SnapshotModel.DoesNotExist:
                return None
        return Snapshot(owner, kind, json.loads(item.body), int(item.version), float(item.updated_at), int(item.size))

    def replace_snapshots(self, client: ClassTopClient, snapshots: Sequence[Snapshot]) -> ClassTopClient:
        """Write ``snapshots`` and ``client`` in one transaction (all or nothing); the client item must still be
        at ``client.revision`` (else :class:`StaleWrite`)."""
        item = self._to_item(client)
        connection = ClassTopClientModel._get_connection().connection
        try:
            with TransactWrite(connection=connection) as transaction:
                for snap in snapshots:
                    body = json.dumps(snap.body, separators=(",", ":"))
                    transaction.save(
                        SnapshotModel(
                            snap.owner, snap.kind, body=body, size=len(body.encode()), version=snap.version,
                            updated_at=snap.updated_at,
                        )
                    )
                transaction.save(item)
        except TransactWriteError as exc:
            reasons = [r.code for r in (exc.cancellation_reasons or []) if r is not None]
            if "ConditionalCheckFailed" in reasons:
                raise StaleWrite(f"client {client.client_uuid} changed meanwhile") from exc
            raise UpstreamError(f"sync of {client.client_uuid}: DynamoDB error {exc.cause_response_code}") from exc
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
