"""Log requests (``LogRequestModel``): written once when asked, read by id."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.domain.log_request import LogRequestRecord
from chalicelib.models.log_request import LogRequestModel
from chalicelib.repositories.base import dynamo_errors, read_item


class LogRequestRepository:
    def create(self, record: LogRequestRecord) -> LogRequestRecord:
        item = LogRequestModel(
            record.request_id, site_id=record.site_id, agent_id=record.agent_id, key=record.key, since=record.since,
            until=record.until, level=record.level, max_bytes=record.max_bytes, created_by=record.created_by,
            created_at=record.created_at, upload_expires_at=record.upload_expires_at,
            ttl=datetime.fromtimestamp(record.retain_until, UTC),
        )
        with dynamo_errors(f"store log request {record.request_id}"):
            item.save(condition=LogRequestModel.request_id.does_not_exist())
        return record

    def get(self, request_id: str) -> LogRequestRecord | None:
        item = read_item(LogRequestModel, request_id, what=f"read log request {request_id}", consistent=True)
        if item is None:
            return None
        return LogRequestRecord(
            request_id=item.request_id, site_id=item.site_id, agent_id=item.agent_id, key=item.key,
            since=_number(item.since), until=_number(item.until), level=item.level, max_bytes=int(item.max_bytes),
            created_by=item.created_by, created_at=float(item.created_at),
            upload_expires_at=float(item.upload_expires_at),
            retain_until=item.ttl.timestamp() if item.ttl is not None else 0.0,
        )


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)
