"""A site's results applied to a command record: how one agent's outcome moves on, and how the item stays small.

Used by :meth:`CommandService.apply_results <chalicelib.services.commands.CommandService.apply_results>`, which
reads and writes the records; this module holds the rules for what goes into them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from chalicelib.domain.command import AgentOutcome, CommandRecord
from shared.messages.enums import CommandHop, CommandStatus

if TYPE_CHECKING:  # the site's results, decoded by their msgspec mirror (no pydantic)
    from shared.messages.structs import AgentResult

#: Keep a command item well under DynamoDB's 400 KB item limit: beyond this, results keep no ``data``.
ITEM_BUDGET_BYTES = 300 * 1024


@dataclass(frozen=True, slots=True)
class ResultsReport:
    """What a site's batch of results did, for the rule handler's log line."""

    applied: int = 0
    #: results that changed nothing (redelivery, out-of-order progress, or a terminal status already set)
    duplicates: int = 0
    #: results for unknown commands, or for agents the command did not target at this site
    ignored: int = 0


@dataclass(slots=True)
class Tally:
    """What one site's results did to one command (or, added up, to all of them)."""

    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    #: agent id -> the status stored for it (the write's log lines)
    stored: dict[str, CommandStatus] = field(default_factory=dict)

    def clear(self) -> None:
        self.applied = self.duplicates = self.ignored = 0
        self.stored.clear()

    def add(self, other: Tally) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.ignored += other.ignored


def merge_outcome(current: AgentOutcome, result: AgentResult, now: float, data_limit: int) -> AgentOutcome:
    """An agent's outcome after ``result`` (already known to move its status forward): ``data`` over ``data_limit``
    characters of JSON is cut (and flagged), hops keep the first time each was seen, a terminal one is ``stored``."""
    success = result.success
    if success is None and result.status.terminal:
        success = result.status is CommandStatus.SUCCEEDED
    data, truncated = result.data, False
    if data is not None:
        text = json.dumps(data, separators=(",", ":"))
        if len(text) > data_limit:
            data, truncated = text[:data_limit], True
    # hops: the first time seen wins (a redelivered or repeated hop changes nothing)
    hops = {**(result.hops or {}), **current.hops}
    if result.status.terminal:
        hops[CommandHop.STORED] = now
    return AgentOutcome(
        site_id=current.site_id,
        status=result.status,
        success=success,
        data=data if data is not None else current.data,
        error=result.error,
        error_code=result.error_code.value if result.error_code is not None else None,
        updated_at=now,
        data_truncated=truncated or (data is None and current.data_truncated),
        hops=hops,
    )


def fit_item(record: CommandRecord, outcomes: dict[str, AgentOutcome]) -> dict[str, AgentOutcome]:
    """Drop result ``data`` (newest first) until the item fits the budget under DynamoDB's 400 KB."""

    def size() -> int:
        return len(json.dumps([{**o.to_dict(), "hops": o.hops} for o in outcomes.values()], default=str)) + len(
            json.dumps(record.params)
        )

    if size() <= ITEM_BUDGET_BYTES:
        return outcomes
    for agent_id in sorted(outcomes, key=lambda a: outcomes[a].updated_at, reverse=True):
        if outcomes[agent_id].data is not None:
            outcomes[agent_id] = replace(outcomes[agent_id], data=None, data_truncated=True)
            if size() <= ITEM_BUDGET_BYTES:
                break
    return outcomes
