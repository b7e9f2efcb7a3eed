"""Per-agent 5-minute metric rollups travel LMS -> cloud (``MetricRollups`` on ``up/metrics``) by closed hours:
each bucket sent once (also across a restart), and through the real LMS process to the cloud broker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.lms.cloud import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.cloud.rollup_sync import UNTIL_KEY, MetricRollupSync
from edge.lms.store import Store
from shared import topics
from shared.messages import MetricRollups, decode
from shared.topics import SiteUp
from tests.fixtures.brokers import Broker
from tests.integration.lms.lms_harness import NS, SITE, LmsFactory, eventually

pytestmark = pytest.mark.integration

METRICS = topics.site_up(NS, SITE, SiteUp.METRICS)
HOUR = 1_764_158_400  # a whole hour (epoch s)
NOW = HOUR + 3600 + 100.0  # early in the next hour: HOUR has closed
BUCKET = HOUR + 3300  # the last bucket of HOUR


def add_samples(store: Store, agent_id: str, samples: list[tuple[float, float, float]]) -> None:
    with store.transaction() as conn:
        conn.executemany("INSERT INTO metrics (agent_id, ts, cpu_percent, mem_percent, data) VALUES (?, ?, ?, ?, '{}')",
                         [(agent_id, ts, cpu, mem) for ts, cpu, mem in samples])


def queued(store: Store) -> list[MetricRollups]:
    return [decode(MetricRollups, i.payload) for i in OutboxRows(store).peek(1000) if i.topic == METRICS]


def test_closed_buckets_are_rolled_up_once_also_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "lms.db"
    with Store(db) as store:
        add_samples(store, "pc-1", [(BUCKET + 10, 10.0, 40.0), (BUCKET + 20, 20.0, 50.0), (BUCKET + 290, 60.0, 60.0)])
        add_samples(store, "pc-2", [(BUCKET + 5, 5.0, 30.0)])
        add_samples(store, "pc-1", [(HOUR + 10, 7.0, 7.0)])  # the first bucket of the hour
        add_samples(store, "pc-1", [(NOW - 50, 99.0, 99.0)])  # the current hour: still open
        sync = MetricRollupSync(store, Outbox(store), namespace=NS, site_id=SITE, grace_s=30)
        assert sync.roll(NOW) == 3
        assert sync.roll(NOW + 10) == 0
        (message,) = queued(store)
        assert [(r.agent_id, r.start) for r in message.rollups] == [("pc-1", HOUR), ("pc-1", BUCKET), ("pc-2", BUCKET)]
        by_agent = {r.agent_id: r for r in message.rollups}
        one = by_agent["pc-1"]
        assert (one.start, one.samples, one.cpu_min, one.cpu_avg, one.cpu_max) == (BUCKET, 3, 10.0, 30.0, 60.0)
        assert (one.mem_min, one.mem_avg, one.mem_max) == (40.0, 50.0, 60.0)
        assert by_agent["pc-2"].samples == 1
    with Store(db) as store:  # an LMS restart: the high mark survives
        sync = MetricRollupSync(store, Outbox(store), namespace=NS, site_id=SITE, grace_s=30)
        assert sync.roll(NOW + 20) == 0
        assert sync.roll(NOW + 3600) == 1  # the hour that was open has closed
        last = queued(store)[-1].rollups
        assert [(r.agent_id, r.start, r.cpu_max) for r in last] == [("pc-1", HOUR + 3600, 99.0)]
        assert len(queued(store)) == 2


def test_the_lms_sends_rollups_to_the_cloud(lms_factory: LmsFactory, cloud_broker: Broker, tmp_path: Path) -> None:
    cloud = cloud_broker.client()
    cloud.subscribe(METRICS)
    db = tmp_path / "lms.db"
    mark = int(time.time() // 3600) * 3600 - 7200  # rolled up until two hours ago: the hour after has closed
    closed = mark + 600
    with Store(db) as store:
        store.set_config(UNTIL_KEY, str(mark))
        add_samples(store, "agent-1", [(closed + 1, 12.5, 30.0), (closed + 2, 37.5, 50.0)])
    lms_factory(cloud_broker.port, db_path=db).start()

    def arrived() -> MetricRollups | None:
        found = [decode(MetricRollups, m.payload) for m in list(cloud.messages) if m.topic == METRICS]
        return found[0] if found else None

    message: MetricRollups = eventually(arrived, 15.0, what="metric rollups on the cloud broker")
    (rollup,) = message.rollups
    assert (rollup.agent_id, rollup.start, rollup.samples, rollup.cpu_avg, rollup.mem_max) == (
        "agent-1", closed, 2, 25.0, 50.0)
