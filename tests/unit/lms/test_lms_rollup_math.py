"""The rollup math of the disk and network figures (issue 12's charts): the agent's rates from its byte counters (a
counter that went down — a reboot, a vanished interface — is no rate), what the LMS stores of a sample (the fullest
disk, the rates), and the 5-minute buckets it rolls up from real SQLite: samples without a figure are left out of
its min/avg/max (never counted as 0), a bucket with none has no figure (the chart's gap), an older agent's samples
(CPU and memory only) still roll up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.agent.metrics import counter_rates
from edge.lms.agents import MetricsHistory, metric_buckets
from edge.lms.cloud.rollup_sync import bucket_rollup
from edge.lms.store import Store
from shared.messages import DiskUsage, Metrics
from shared.messages.sync import MAX_RATE_BPS, MetricRollup

BUCKET = 1_764_158_400  # a bucket start (epoch s), a multiple of 300


@pytest.fixture
def history(tmp_path: Path) -> Iterator[MetricsHistory]:
    with Store(tmp_path / "lms.db") as store:
        history = MetricsHistory(store, retention_days=7).start()
        try:
            yield history
        finally:
            history.stop()


def sample(
    ts: float, cpu: float, *, disks: tuple[float, ...] = (), rx: float | None = None, tx: float | None = None
) -> Metrics:
    return Metrics(timestamp=ts, cpu_percent=cpu, mem_total=100, mem_used=50, mem_percent=50.0,
                   disks=[DiskUsage(mount=f"/m{i}", total=100, used=int(p), percent=p) for i, p in enumerate(disks)],
                   net_rx_bps=rx, net_tx_bps=tx)  # fmt: skip


def rollups(history: MetricsHistory, *samples: Metrics) -> dict[int, MetricRollup]:
    for s in samples:
        history.add("pc-1", s)
    assert history.flush()
    store = history._store  # the store the history writes to
    return {r.start: r for r in (bucket_rollup(row, 300) for row in metric_buckets(store, BUCKET, BUCKET + 900, 300))}


def test_rates_are_counter_deltas_over_time_and_a_reset_is_no_rate() -> None:
    assert counter_rates((1_000, 500), (4_000, 2_000), 15.0) == (200.0, 100.0)
    assert counter_rates((1_000, 500), (1_000, 500), 15.0) == (0.0, 0.0)  # idle: a true zero
    assert counter_rates((9_000_000, 500), (1_200, 900), 15.0) == (None, None)  # rebooted: counters restarted
    assert counter_rates((1_000, 9_000), (2_000, 100), 15.0) == (None, None)  # one counter went down: both unknown
    assert counter_rates(None, (1_000, 500), 15.0) == (None, None)  # the first reading
    assert counter_rates((1_000, 500), None, 15.0) == (None, None)  # counters unreadable
    assert counter_rates((1_000, 500), (2_000, 600), 0.0) == (None, None)  # no time between readings


def test_a_bucket_rolls_up_the_fullest_disk_and_the_rates_its_samples_had(history: MetricsHistory) -> None:
    got = rollups(
        history,
        sample(BUCKET + 10, 10.0, disks=(20.0, 71.5), rx=1_000.4, tx=10.0),
        sample(BUCKET + 25, 30.0, disks=(20.0, 72.5), rx=None, tx=None),  # after a counter reset: no rate
        sample(BUCKET + 40, 20.0, disks=(20.0, 73.0), rx=3_000.6, tx=30.0),
    )
    (one,) = got.values()
    assert (one.samples, one.cpu_min, one.cpu_avg, one.cpu_max) == (3, 10.0, 20.0, 30.0)
    assert (one.disk_min, one.disk_avg, one.disk_max) == (71.5, round((71.5 + 72.5 + 73.0) / 3, 2), 73.0)
    # the sample without a rate is left out: the mean of 1,000.4 and 3,000.6, not of three with a 0
    assert (one.net_rx_min, one.net_rx_avg, one.net_rx_max) == (1_000, 2_000, 3_001)
    assert (one.net_tx_min, one.net_tx_avg, one.net_tx_max) == (10, 20, 30)


def test_missing_figures_are_absent_not_zero(history: MetricsHistory) -> None:
    got = rollups(
        history,
        sample(BUCKET + 10, 5.0),  # no disks, no rates (an older agent, or just rebooted)
        sample(BUCKET + 20, 7.0, rx=None),
        sample(BUCKET + 310, 9.0, disks=(40.0,), rx=0.0, tx=0.0),  # the next bucket: an idle link is a true 0
    )
    first, second = got[BUCKET], got[BUCKET + 300]
    for name in ("disk", "net_rx", "net_tx"):
        assert [getattr(first, f"{name}_{p}") for p in ("min", "avg", "max")] == [None, None, None]
    assert (second.disk_max, second.net_rx_avg, second.net_tx_max) == (40.0, 0, 0)
    # in the message the absent figures are left out entirely: an older cloud reads the same bucket
    assert "disk" not in first.model_dump_json(exclude_none=True)


def test_rows_written_before_the_columns_existed_roll_up_with_cpu_and_memory_only(history: MetricsHistory) -> None:
    store = history._store
    with store.transaction() as conn:  # what an LMS before schema 16 wrote: no disk or network columns filled
        conn.execute("INSERT INTO metrics (agent_id, ts, cpu_percent, mem_percent, data) VALUES ('pc-1', ?, 12.0,"
                     " 40.0, '{}')", (BUCKET + 5,))  # fmt: skip
    (one,) = rollups(history).values()
    assert (one.cpu_avg, one.mem_avg, one.disk_avg, one.net_rx_avg) == (12.0, 40.0, None, None)


def test_rounding_keeps_each_average_between_its_minimum_and_maximum() -> None:
    row = ("pc-1", BUCKET, 2, 1.0, 1.0, 1.0, None, None, None, 33.333, 33.3349, 33.335, 0.4, 0.5, 0.6,
           MAX_RATE_BPS * 2.0, MAX_RATE_BPS * 2.0, MAX_RATE_BPS * 2.0)  # fmt: skip
    one = bucket_rollup(row, 300)
    assert one.disk_min <= one.disk_avg <= one.disk_max  # type: ignore[operator]
    assert (one.net_rx_min, one.net_rx_avg, one.net_rx_max) == (0, 0, 1)
    assert one.net_tx_max == MAX_RATE_BPS  # bounded as the schema is (a bogus counter cannot refuse the batch)
    assert one.mem_avg is None
