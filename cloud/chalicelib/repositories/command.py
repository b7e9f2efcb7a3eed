"""Command records: ``CommandModel`` items <-> :class:`CommandRecord`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.command import AgentOutcome, CommandRecord
from chalicelib.errors import Conflict, StaleWrite
from chalicelib.models.command import CommandModel
from chalicelib.repositories.dynamo import dynamo_errors
from shared.messages import CommandStatus


class CommandRepository:
    def get(self, command_id: str) -> CommandRecord | None:
        with dynamo_errors(f"read command {command_id}"):
            try:
                item = CommandModel.get(command_id, consistent_read=True)
            except CommandModel.DoesNotExist:
                return None
        return _to_record(item)

    def create(self, record: CommandRecord) -> CommandRecord:
        """Store a new record; :class:`Conflict` if the id is taken."""
        if record.revision is not None:
            raise ValueError("create() takes a record that was never stored")
        item = _to_item(record)
        try:
            with dynamo_errors(f"create command {record.command_id}"):
                item.save(condition=CommandModel.command_id.does_not_exist())
        except StaleWrite:
            raise Conflict(f"command {record.command_id} already exists") from None
        return _to_record(item)

    def save(self, record: CommandRecord) -> CommandRecord:
        """Replace a stored record if nobody wrote it since it was read (else :class:`StaleWrite`)."""
        if record.revision is None:
            raise ValueError("save() takes a record read from the store")
        item = _to_item(record)
        with dynamo_errors(f"update command {record.command_id}"):
            item.save()
        return _to_record(item)


def _outcome_to_item(outcome: AgentOutcome) -> dict[str, Any]:
    return {
        "site_id": outcome.site_id,
        "status": outcome.status.value,
        "success": outcome.success,
        # JSON text: agent output may nest deeper than DynamoDB's 32 levels or hold floats it would round
        "data": None if outcome.data is None else json.dumps(outcome.data, separators=(",", ":")),
        "error": outcome.error,
        "error_code": outcome.error_code,
        "updated_at": outcome.updated_at,
        "data_truncated": outcome.data_truncated,
    }


def _outcome_from_item(raw: dict[str, Any]) -> AgentOutcome:
    data = raw.get("data")
    return AgentOutcome(
        site_id=str(raw["site_id"]),
        status=CommandStatus(raw["status"]),
        success=raw.get("success"),
        data=None if data is None else json.loads(data),
        error=raw.get("error"),
        error_code=raw.get("error_code"),
        updated_at=float(raw.get("updated_at") or 0.0),
        data_truncated=bool(raw.get("data_truncated")),
    )


def _to_item(record: CommandRecord) -> CommandModel:
    item = CommandModel(
        record.command_id,
        command=record.command,
        params=record.params,
        timeout_s=record.timeout_s,
        targets=list(record.targets),
        site_ids=list(record.site_ids),
        status=record.status.value,
        results={agent_id: _outcome_to_item(o) for agent_id, o in record.results.items()},
        error=record.error,
        created_by=record.created_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
        expires_at=record.expires_at,
        ttl=datetime.fromtimestamp(record.retain_until, tz=UTC),
    )
    if record.revision is not None:
        item.revision = record.revision
    return item


def _to_record(item: CommandModel) -> CommandRecord:
    raw_results: dict[str, Any] = item.results.as_dict()  # type: ignore[no-untyped-call]
    return CommandRecord(
        command_id=item.command_id,
        command=item.command,
        params=dict(item.params or {}),
        timeout_s=float(item.timeout_s),
        targets=tuple(str(a) for a in item.targets),
        site_ids=tuple(str(s) for s in item.site_ids),
        results={agent_id: _outcome_from_item(raw) for agent_id, raw in raw_results.items()},
        created_by=item.created_by,
        created_at=float(item.created_at),
        updated_at=float(item.updated_at),
        expires_at=float(item.expires_at),
        retain_until=item.ttl.timestamp(),
        status=CommandStatus(item.status),
        error=item.error,
        revision=item.revision,
    )
