"""Metrics history (batched writes, queries, retention) and tags/groups, on a real SQLite file."""

from __future__ import annotations

import time

import pytest

from edge.lms.agents import GroupError, Groups, Registry
from edge.lms.agents.metrics_history import PRUNE_BATCH, MetricsHistory
from edge.lms.store import Store
from shared.messages import Metrics, Presence, Status, encode
from shared.mqtt import IncomingMessage


def sample(ts: float, cpu: float = 10.0) -> Metrics:
    return Metrics(timestamp=ts, cpu_percent=cpu, mem_total=1000, mem_used=500, mem_percent=50.0)


def test_samples_are_written_in_batches_and_queried_by_time(store: Store) -> None:
    history = MetricsHistory(store, retention_days=1).start()
    try:
        for i in range(10):
            history.add("agent-1", sample(1000.0 + i, cpu=i))
        history.add("agent-2", sample(1005.0))
        assert history.flush()
    finally:
        history.stop()
    assert history.count() == 11 and history.count("agent-1") == 10
    rows = history.query("agent-1", since=1002, until=1004)
    assert [r["timestamp"] for r in rows] == [1002.0, 1003.0, 1004.0]
    assert rows[0]["cpu_percent"] == 2.0 and rows[0]["mem_total"] == 1000
    newest = history.query("agent-1", limit=3)
    assert [r["timestamp"] for r in newest] == [1007.0, 1008.0, 1009.0]  # the newest 3, oldest first
    assert history.query("agent-3") == []


def test_prune_deletes_only_old_samples_in_batches(store: Store) -> None:
    history = MetricsHistory(store, retention_days=1)
    now = time.time()
    old = [("agent-1", now - 2 * 86400 + i * 0.001, 1.0, 1.0, "{}") for i in range(PRUNE_BATCH + 10)]
    with store.transaction() as conn:
        conn.executemany("INSERT INTO metrics (agent_id, ts, cpu_percent, mem_percent, data) VALUES (?,?,?,?,?)", old)
        conn.execute("INSERT INTO metrics (agent_id, ts, cpu_percent, mem_percent, data) VALUES (?,?,?,?,?)",
                     ("agent-1", now, 1.0, 1.0, "{}"))  # fmt: skip
    assert history.prune(now) == PRUNE_BATCH + 10
    assert history.count() == 1


def test_the_registry_keeps_the_latest_sample_and_feeds_listeners(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=30)
    got: list[tuple[str, float]] = []
    reg.add_metrics_listener(lambda agent, m: got.append((agent, m.timestamp)))
    reg.handle(IncomingMessage("ct/agent/agent-1/up/metrics", encode(sample(5.0)), 1, False))
    reg.handle(IncomingMessage("ct/agent/agent-1/up/metrics", b'{"type": "metrics"}', 1, False))  # bad: dropped
    latest = reg.latest_metrics("agent-1")
    assert latest is not None and latest.timestamp == 5.0 and latest == sample(5.0)
    assert got == [("agent-1", 5.0)]
    assert reg.stats.bad_payloads == 1
    assert reg.presence("agent-1") is Presence.ONLINE


def test_tags_groups_and_targets(store: Store) -> None:
    reg = Registry(store, presence_timeout_s=30)
    for agent in ("agent-1", "agent-2", "agent-3"):
        status = Status(state=Presence.ONLINE, timestamp=1.0, reason="start")
        reg.handle(IncomingMessage(f"ct/agent/{agent}/up/status", encode(status), 1, True))
    groups = Groups(store, reg)
    assert groups.set_tags("agent-1", ["lab", "floor-2", "lab"]) == ["floor-2", "lab"]
    groups.set_tags("agent-2", ["lab"])
    assert groups.resolve(tag="lab") == ["agent-1", "agent-2"]
    with pytest.raises(GroupError) as unknown:
        groups.set_tags("agent-9", ["lab"])
    assert unknown.value.status == 404
    with pytest.raises(GroupError, match="invalid tag"):
        groups.set_tags("agent-1", ["ok", "not ok"])
    assert groups.tags("agent-1") == ["floor-2", "lab"]  # unchanged by the refused request

    group = groups.put_group("room-101", ["agent-3", "agent-1"], "room 101")
    assert group["agents"] == ["agent-1", "agent-3"] and group["description"] == "room 101"
    assert groups.resolve(group="room-101") == ["agent-1", "agent-3"]
    groups.put_group("room-101", ["agent-2"])
    assert groups.resolve(group="room-101") == ["agent-2"]
    assert groups.resolve(all_agents=True) == ["agent-1", "agent-2", "agent-3"]
    assert groups.resolve(ids=["agent-2", "agent-2", "agent-1"]) == ["agent-2", "agent-1"]
    groups.delete_group("room-101")
    with pytest.raises(GroupError) as gone:
        groups.resolve(group="room-101")
    assert gone.value.status == 404
    with pytest.raises(GroupError, match="invalid group name"):
        groups.put_group("bad name", [])
    with pytest.raises(GroupError, match="no target"):
        groups.resolve()
