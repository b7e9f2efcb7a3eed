"""An agent's command history, newest first: one Query on the history table, one BatchGetItem of the records."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.page import Page
from chalicelib.domain.token import Principal
from chalicelib.repositories.command import CommandRepository
from chalicelib.services.agents import AgentService


class CommandHistory:
    def __init__(self, commands: CommandRepository, agents: AgentService) -> None:
        self._commands = commands
        self._agents = agents

    def of_agent(self, agent_id: str, principal: Principal, *, limit: int = 50,
                 cursor: str | None = None) -> Page[dict[str, Any]]:
        """Each entry: the command's summary and this agent's outcome. Index items whose command is gone (TTL,
        or a create that failed half-way) are skipped."""
        self._agents.get(agent_id, principal)  # 404 for an unknown or unseen agent
        page = self._commands.history(agent_id, limit=limit, cursor=cursor)
        records = self._commands.get_many(page.items)
        entries: list[dict[str, Any]] = []
        for command_id in page.items:
            record = records.get(command_id)
            if record is None or agent_id not in record.results:
                continue
            entries.append({
                "command_id": record.command_id,
                "command": record.command,
                "params": record.params,
                "status": record.status.value,
                "created_by": record.created_by,
                "created_at": record.created_at,
                "targets": len(record.targets),
                "result": {**record.results[agent_id].to_dict(), "hops": record.hops_of(agent_id)},
            })
        return Page(entries, page.cursor)
