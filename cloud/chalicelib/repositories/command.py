"""Command records: ``CommandModel`` items <-> :class:`CommandRecord`, and the per-agent history index
(``AgentCommandModel``)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.command import AgentOutcome, CommandRecord
from chalicelib.domain.page import Page
from chalicelib.errors import Conflict, StaleWrite
from chalicelib.models.command import AgentCommandModel, CommandModel
from chalicelib.repositories.base import TenantRepository, dynamo_errors, expiry, read_item, read_page, sort_key
from chalicelib.repositories.change_mark import Area, bump
from shared.messages import CommandStatus
from shared.messages.enums import CommandHop

_HISTORY_KEYS = frozenset({"agent_id", "at_id"})
_HOPS = frozenset(hop.value for hop in CommandHop)


class CommandRepository(TenantRepository):
    def get(self, command_id: str) -> CommandRecord | None:
        item = read_item(CommandModel, command_id, what=f"read command {command_id}", consistent=True)
        return None if item is None else _to_record(item)

    def create(self, record: CommandRecord) -> CommandRecord:
        """Store a new record; :class:`Conflict` if the id is taken."""
        if record.revision is not None:
            raise ValueError("create() takes a record that was never stored")
        item = self._to_item(record)
        # the history index first: if the command cannot be stored, the index items are removed again (a
        # reader skips index items whose command does not exist, so a crash in between shows nothing)
        history = [
            AgentCommandModel(
                agent_id,
                sort_key(record.created_at, record.command_id),
                command_id=record.command_id,
                command=record.command,
                created_at=record.created_at,
                ttl=expiry(record.retain_until),
            )
            for agent_id in record.targets
        ]
        with dynamo_errors(f"index command {record.command_id}"), AgentCommandModel.batch_write() as batch:
            for entry in history:
                batch.save(entry)
        try:
            with dynamo_errors(f"create command {record.command_id}"):
                item.save(condition=CommandModel.command_id.does_not_exist())
        except BaseException as exc:
            with dynamo_errors(f"unindex command {record.command_id}"), AgentCommandModel.batch_write() as batch:
                for entry in history:
                    batch.delete(entry)
            if isinstance(exc, StaleWrite):
                raise Conflict(f"command {record.command_id} already exists") from None
            raise
        bump(Area.COMMANDS)
        return _to_record(item)

    def history(self, agent_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[str]:
        """Command ids of an agent, newest first (one Query on the history table)."""
        return read_page(
            lambda start: AgentCommandModel.query(
                agent_id, scan_index_forward=False, limit=limit, last_evaluated_key=start
            ),
            _HISTORY_KEYS,
            limit=limit,
            cursor=cursor,
            convert=lambda item: item.command_id,
            what=f"list commands of {agent_id}",
        )

    def get_many(self, command_ids: list[str]) -> dict[str, CommandRecord]:
        if not command_ids:
            return {}
        with dynamo_errors("read commands"):
            return {item.command_id: _to_record(item) for item in CommandModel.batch_get(sorted(set(command_ids)))}

    def overdue(self, now: float, limit: int = 100) -> list[str]:
        """Ids of unfinished commands whose ``expires_at`` has passed (one Query on the sparse ``by_open``)."""
        with dynamo_errors("list overdue commands"):
            return [
                item.command_id
                for item in CommandModel.by_open.query(self._tenant, CommandModel.expires_at < now, limit=limit)
            ]

    def save(self, record: CommandRecord) -> CommandRecord:
        """Replace a stored record if nobody wrote it since it was read (else :class:`StaleWrite`)."""
        if record.revision is None:
            raise ValueError("save() takes a record read from the store")
        item = self._to_item(record)
        with dynamo_errors(f"update command {record.command_id}"):
            item.save()
        bump(Area.COMMANDS)
        return _to_record(item)

    def mark_sent(self, record: CommandRecord, sent: dict[str, float]) -> CommandRecord:
        """Add when the sites' messages were published (the ``sent`` hop) to a record nobody wrote since it was read
        (else :class:`StaleWrite`): one UpdateItem of ``sent_at`` and the revision alone, conditional on the
        revision read, so what a site's results stored meanwhile is never written over."""
        if record.revision is None:
            raise ValueError("mark_sent() takes a record read from the store")
        sent_at = {site: _offset(at, record.created_at) for site, at in {**record.sent_at, **sent}.items()}
        item = CommandModel(record.command_id, revision=record.revision)
        with dynamo_errors(f"mark command {record.command_id} sent"):
            item.update(actions=[CommandModel.sent_at.set(sent_at)])
        bump(Area.COMMANDS)
        return _to_record(item)

    def _to_item(self, record: CommandRecord) -> CommandModel:
        item = _to_item(record)
        item.open_tenant = None if record.status.terminal else self._tenant
        return item


def _offset(at: float, created_at: float) -> int:
    """A time as whole ms after the command's creation: a few bytes per hop in the item (big batches)."""
    return round((at - created_at) * 1000)


def _at(offset: Any, created_at: float) -> float:
    return round(created_at + float(offset) / 1000, 3)


def _outcome_to_item(outcome: AgentOutcome, created_at: float) -> dict[str, Any]:
    """An outcome as its item map: an empty field (``None``, ``data_truncated`` false) is left out, as the reader
    takes it — a pending agent's entry is its site, status and time, the bytes every write of the item is billed
    on (``sent``, each result, the sweeper)."""
    item: dict[str, Any] = {
        "site_id": outcome.site_id,
        "status": outcome.status.value,
        "updated_at": outcome.updated_at,
    }
    optional: dict[str, Any] = {
        "success": outcome.success,
        # JSON text: agent output may nest deeper than DynamoDB's 32 levels or hold floats it would round
        "data": None if outcome.data is None else json.dumps(outcome.data, separators=(",", ":")),
        "error": outcome.error,
        "error_code": outcome.error_code,
        "data_truncated": outcome.data_truncated or None,
    }
    item.update((name, value) for name, value in optional.items() if value is not None)
    if outcome.hops:
        item["hops"] = {hop.value: _offset(at, created_at) for hop, at in outcome.hops.items()}
    return item


def _outcome_from_item(raw: dict[str, Any], created_at: float) -> AgentOutcome:
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
        hops={
            CommandHop(hop): _at(offset, created_at) for hop, offset in (raw.get("hops") or {}).items() if hop in _HOPS
        },
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
        results={agent_id: _outcome_to_item(o, record.created_at) for agent_id, o in record.results.items()},
        sent_at={site: _offset(at, record.created_at) for site, at in record.sent_at.items()} or None,
        error=record.error,
        created_by=record.created_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
        expires_at=record.expires_at,
        ttl=expiry(record.retain_until),
    )
    if record.revision is not None:
        item.revision = record.revision
    return item


def _to_record(item: CommandModel) -> CommandRecord:
    raw_results: dict[str, Any] = item.results.as_dict()  # type: ignore[no-untyped-call]
    raw_sent: dict[str, Any] = item.sent_at.as_dict() if item.sent_at is not None else {}  # type: ignore[no-untyped-call]
    created_at = float(item.created_at)
    return CommandRecord(
        command_id=item.command_id,
        command=item.command,
        params=dict(item.params or {}),
        timeout_s=float(item.timeout_s),
        targets=tuple(str(a) for a in item.targets),
        site_ids=tuple(str(s) for s in item.site_ids),
        results={agent_id: _outcome_from_item(raw, created_at) for agent_id, raw in raw_results.items()},
        created_by=item.created_by,
        created_at=created_at,
        updated_at=float(item.updated_at),
        expires_at=float(item.expires_at),
        retain_until=item.ttl.timestamp(),
        status=CommandStatus(item.status),
        error=item.error,
        revision=item.revision,
        sent_at={str(site): _at(offset, created_at) for site, offset in raw_sent.items()},
    )
