"""Upgrade campaigns in SQLite (tables ``upgrade_campaigns`` and ``upgrade_campaign_agents``, schema version 11).

A campaign upgrades a list of agents to one package version, wave by wave; each agent's row says its wave, its
state (:class:`AgentState`), the version it had and the version it reported last, and why it failed.
"""

from __future__ import annotations

import json
import math
import time
from enum import StrEnum
from typing import Any

from edge.lms.store import Store

#: Schema version 11 (edge/lms/schema.py).
UPGRADE_TABLES_V11 = (
    """CREATE TABLE IF NOT EXISTS upgrade_campaigns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            version TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            state TEXT NOT NULL,
            options TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL,
            detail TEXT
        )""",
    """CREATE TABLE IF NOT EXISTS upgrade_campaign_agents (
            campaign_id INTEGER NOT NULL REFERENCES upgrade_campaigns (id),
            agent_id TEXT NOT NULL,
            wave INTEGER NOT NULL,
            state TEXT NOT NULL,
            from_version TEXT,
            version TEXT,
            detail TEXT,
            updated_at REAL NOT NULL,
            PRIMARY KEY (campaign_id, agent_id)
        )""",
)


class CampaignState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # an agent failed or rolled back: the waves after it were not started
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the LMS stopped while it ran


class AgentState(StrEnum):
    PENDING = "pending"
    SENT = "sent"  # upgrade_agent sent, no answer yet
    RESTARTING = "restarting"  # installed; waiting for the new version online
    UPGRADED = "upgraded"
    ROLLED_BACK = "rolled_back"  # back online on its old version
    FAILED = "failed"  # refused the package, or not back online at all
    CANCELLED = "cancelled"  # never started: the campaign stopped first


def plan_waves(agent_ids: list[str], canary_percent: float, wave_size: int) -> list[list[str]]:
    """The canary wave (``canary_percent`` of the agents, at least one), then waves of ``wave_size``."""
    canary = min(len(agent_ids), max(1, math.ceil(len(agent_ids) * canary_percent / 100)))
    rest = agent_ids[canary:]
    return [agent_ids[:canary], *(rest[i:i + wave_size] for i in range(0, len(rest), wave_size))]


class CampaignRows:
    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, version: str, sha256: str, waves: list[list[tuple[str, str | None]]], options: dict[str, Any],
               created_by: str) -> int:  # fmt: skip
        now = time.time()
        with self._store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO upgrade_campaigns (version, sha256, state, options, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (version, sha256, CampaignState.RUNNING.value, json.dumps(options), created_by, now),
            )
            campaign_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO upgrade_campaign_agents (campaign_id, agent_id, wave, state, from_version, version, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(campaign_id, agent_id, n, AgentState.PENDING.value, old, old, now)
                 for n, wave in enumerate(waves) for agent_id, old in wave],
            )  # fmt: skip
        return campaign_id

    def set_agent(self, campaign_id: int, agent_id: str, state: AgentState, *, version: str | None = None,
                  detail: str | None = None) -> None:  # fmt: skip
        with self._store.transaction() as conn:
            conn.execute(
                "UPDATE upgrade_campaign_agents SET state = ?, version = COALESCE(?, version), detail = ?, "
                "updated_at = ? WHERE campaign_id = ? AND agent_id = ?",
                (state.value, version, detail, time.time(), campaign_id, agent_id),
            )

    def finish(self, campaign_id: int, state: CampaignState, detail: str | None = None) -> bool:
        """End a running campaign (its pending agents become ``cancelled``); False if it was not running."""
        with self._store.transaction() as conn:
            cur = conn.execute(
                "UPDATE upgrade_campaigns SET state = ?, finished_at = ?, detail = ? WHERE id = ? AND state = ?",
                (state.value, time.time(), detail, campaign_id, CampaignState.RUNNING.value),
            )
            conn.execute(
                "UPDATE upgrade_campaign_agents SET state = ?, updated_at = ? WHERE campaign_id = ? AND state = ?",
                (AgentState.CANCELLED.value, time.time(), campaign_id, AgentState.PENDING.value),
            )
            return cur.rowcount == 1

    def state(self, campaign_id: int) -> CampaignState | None:
        rows = self._store.query("SELECT state FROM upgrade_campaigns WHERE id = ?", (campaign_id,))
        return CampaignState(rows[0][0]) if rows else None

    def running(self) -> list[int]:
        return [int(r[0]) for r in self._store.query(
            "SELECT id FROM upgrade_campaigns WHERE state = ?", (CampaignState.RUNNING.value,))]  # fmt: skip

    def get(self, campaign_id: int) -> dict[str, Any] | None:
        rows = self._store.query(
            "SELECT id, version, sha256, state, options, created_by, created_at, finished_at, detail "
            "FROM upgrade_campaigns WHERE id = ?", (campaign_id,),
        )  # fmt: skip
        if not rows:
            return None
        agents = [
            {"agent_id": r[0], "wave": r[1], "state": r[2], "from_version": r[3], "version": r[4], "detail": r[5],
             "updated_at": r[6]}
            for r in self._store.query(
                "SELECT agent_id, wave, state, from_version, version, detail, updated_at FROM upgrade_campaign_agents "
                "WHERE campaign_id = ? ORDER BY wave, agent_id", (campaign_id,))
        ]  # fmt: skip
        return {**_summary(rows[0]), "agents": agents}

    def of_cloud(self, cloud_campaign_id: str) -> int | None:
        """The campaign started for the cloud's campaign ``cloud_campaign_id`` (its id is kept in ``options``)."""
        rows = self._store.query(
            "SELECT id FROM upgrade_campaigns WHERE json_extract(options, '$.cloud_campaign_id') = ? "
            "ORDER BY id DESC LIMIT 1", (cloud_campaign_id,),
        )  # fmt: skip
        return int(rows[0][0]) if rows else None

    def cloud_campaigns(self, finished_since: float) -> list[tuple[int, str]]:
        """(id, cloud campaign id) of the cloud's campaigns running or finished since ``finished_since``."""
        rows = self._store.query(
            "SELECT id, json_extract(options, '$.cloud_campaign_id') FROM upgrade_campaigns "
            "WHERE json_extract(options, '$.cloud_campaign_id') IS NOT NULL AND (state = ? OR finished_at >= ?) "
            "ORDER BY id", (CampaignState.RUNNING.value, finished_since),
        )  # fmt: skip
        return [(int(r[0]), str(r[1])) for r in rows]

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._store.query(
            "SELECT id, version, sha256, state, options, created_by, created_at, finished_at, detail "
            "FROM upgrade_campaigns ORDER BY id DESC LIMIT ?", (limit,),
        )  # fmt: skip
        return [_summary(r) for r in rows]


def _summary(r: tuple[Any, ...]) -> dict[str, Any]:
    return {"id": r[0], "version": r[1], "sha256": r[2], "state": r[3], "options": json.loads(r[4]),
            "created_by": r[5], "created_at": r[6], "finished_at": r[7], "detail": r[8]}  # fmt: skip
