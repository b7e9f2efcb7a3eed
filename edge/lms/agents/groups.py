"""Agent tags and groups (for batch commands): tags are free labels on an agent, groups are named lists.

Both are kept in SQLite (``agent_tags``, ``agent_groups``, ``agent_group_members``); every change is one
transaction, so a bad request leaves nothing half-written. :meth:`Groups.resolve` turns a batch target
(ids, a group, a tag, or all) into agent ids.
"""

from __future__ import annotations

import re
import time
from typing import Any

from edge.lms.agents.registry import Registry
from edge.lms.errors import LmsError
from edge.lms.store import Store

#: Schema version 2: tags per agent, groups and their members.
TAG_AND_GROUP_TABLES_V2 = (
    """CREATE TABLE IF NOT EXISTS agent_tags (
            agent_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (agent_id, tag)
        )""",
    "CREATE INDEX IF NOT EXISTS agent_tags_tag ON agent_tags (tag)",
    """CREATE TABLE IF NOT EXISTS agent_groups (
            name TEXT PRIMARY KEY,
            description TEXT,
            created_at REAL NOT NULL
        )""",
    """CREATE TABLE IF NOT EXISTS agent_group_members (
            group_name TEXT NOT NULL REFERENCES agent_groups (name) ON DELETE CASCADE,
            agent_id TEXT NOT NULL,
            PRIMARY KEY (group_name, agent_id)
        )""",
)
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
_LABEL = re.compile(LABEL_PATTERN)
MAX_TAGS_PER_AGENT = 64
MAX_GROUP_MEMBERS = 10_000


class GroupError(LmsError):
    """A tag or group request was refused (404 unknown, 422 bad)."""


def check_label(value: str, what: str) -> str:
    if not _LABEL.match(value):
        raise GroupError(f"invalid {what} {value!r}: 1-64 letters, digits, _ . : - (starting with a letter or digit)")
    return value


class Groups:
    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry

    # ------------------------------------------------------------ tags

    def tags(self, agent_id: str) -> list[str]:
        return [
            r[0] for r in self._store.query("SELECT tag FROM agent_tags WHERE agent_id = ? ORDER BY tag", (agent_id,))
        ]

    def set_tags(self, agent_id: str, tags: list[str]) -> list[str]:
        """Replace the agent's tags (the agent must be known)."""
        if self._registry.get(agent_id) is None:
            raise GroupError(f"unknown agent {agent_id!r}", 404)
        clean = sorted({check_label(t, "tag") for t in tags})
        if len(clean) > MAX_TAGS_PER_AGENT:
            raise GroupError(f"at most {MAX_TAGS_PER_AGENT} tags per agent")
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM agent_tags WHERE agent_id = ?", (agent_id,))
            conn.executemany("INSERT INTO agent_tags (agent_id, tag) VALUES (?, ?)", [(agent_id, t) for t in clean])
        return clean

    # ------------------------------------------------------------ groups

    def groups(self) -> list[dict[str, Any]]:
        members: dict[str, list[str]] = {}
        for name, agent_id in self._store.query(
            "SELECT group_name, agent_id FROM agent_group_members ORDER BY group_name, agent_id"
        ):
            members.setdefault(name, []).append(agent_id)
        return [
            {"name": name, "description": desc, "created_at": at, "agents": members.get(name, [])}
            for name, desc, at in self._store.query(
                "SELECT name, description, created_at FROM agent_groups ORDER BY name"
            )
        ]

    def group(self, name: str) -> dict[str, Any]:
        for g in self.groups():
            if g["name"] == name:
                return g
        raise GroupError(f"unknown group {name!r}", 404)

    def put_group(self, name: str, agents: list[str], description: str | None = None) -> dict[str, Any]:
        """Create or replace a group. Members need not be known yet (an agent may enrol later)."""
        check_label(name, "group name")
        members = sorted(set(agents))
        for agent_id in members:
            check_label(agent_id, "agent id")
        if len(members) > MAX_GROUP_MEMBERS:
            raise GroupError(f"at most {MAX_GROUP_MEMBERS} agents per group")
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO agent_groups (name, description, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET description = excluded.description",
                (name, description, time.time()),
            )
            conn.execute("DELETE FROM agent_group_members WHERE group_name = ?", (name,))
            conn.executemany(
                "INSERT INTO agent_group_members (group_name, agent_id) VALUES (?, ?)", [(name, a) for a in members]
            )
        return self.group(name)

    def delete_group(self, name: str) -> None:
        with self._store.transaction() as conn:
            cur = conn.execute("DELETE FROM agent_groups WHERE name = ?", (name,))
            conn.execute("DELETE FROM agent_group_members WHERE group_name = ?", (name,))
        if cur.rowcount == 0:
            raise GroupError(f"unknown group {name!r}", 404)

    # ------------------------------------------------------------ targets

    def resolve(
        self,
        *,
        ids: list[str] | None = None,
        group: str | None = None,
        tag: str | None = None,
        all_agents: bool = False,
    ) -> list[str]:
        """Agent ids of a batch target (exactly one of the four kinds; the caller checks that)."""
        if ids is not None:
            return list(dict.fromkeys(ids))
        if group is not None:
            return list(self.group(group)["agents"])
        if tag is not None:
            check_label(tag, "tag")
            return [
                r[0]
                for r in self._store.query("SELECT agent_id FROM agent_tags WHERE tag = ? ORDER BY agent_id", (tag,))
            ]
        if all_agents:
            return [a.agent_id for a in self._registry.agents()]
        raise GroupError("no target: give ids, group, tag or all")
