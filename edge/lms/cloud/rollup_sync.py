"""Per-agent 5-minute metric rollups on their way to the cloud (``MetricRollups`` on ``site_up(..., METRICS)``).

One thread, every ``interval_s``, rolls up the ``metrics`` history table (min/avg/max of CPU, memory, the fullest
disk's used % and the network receive / transmit rates, sample count, per 5-minute bucket: :func:`bucket_rollup`) of
the **hours** closed since the high mark ``rollup_until`` kept in ``lms_config``, and writes the messages to the
durable outbox **in the same transaction** as the new high mark: each bucket is sent once, also across restarts.
Whole hours travel together (one agent's hour is never split across messages) so that the cloud writes one item
per agent per hour (the cost budget: docs/seeds.md#budgets). An hour closes ``grace_s`` after its end (samples are
written in batches); a sample stored after its hour was rolled up is not sent. The first start rolls up at most
``backfill_s`` of history.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from edge.lms.agents import metric_buckets
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.store import Store
from shared import topics
from shared.messages import MAX_ROLLUPS, ROLLUP_HOUR_S, ROLLUP_PERIOD_S, MetricRollup, MetricRollups, encode
from shared.messages.sync import MAX_RATE_BPS
from shared.names import Namespace
from shared.periodic import Periodic
from shared.topics import SiteUp

log = logging.getLogger(__name__)

UNTIL_KEY = "rollup_until"
DEFAULT_INTERVAL_S = 30.0
DEFAULT_GRACE_S = 30.0
DEFAULT_BACKFILL_S = 3600.0


class MetricRollupSync:
    """Start with :meth:`start`, stop with :meth:`stop`; :meth:`roll` runs one pass."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        *,
        namespace: Namespace,
        site_id: str,
        interval_s: float = DEFAULT_INTERVAL_S,
        grace_s: float = DEFAULT_GRACE_S,
        backfill_s: float = DEFAULT_BACKFILL_S,
        period_s: int = ROLLUP_PERIOD_S,
    ) -> None:
        if period_s <= 0 or ROLLUP_HOUR_S % period_s:
            raise ValueError(f"period_s must divide {ROLLUP_HOUR_S}")
        self._store = store
        self._outbox = outbox
        self._topic = topics.site_up(namespace, site_id, SiteUp.METRICS)
        self._grace_s = grace_s
        self._backfill_s = backfill_s
        self._period_s = period_s
        self._periodic = Periodic("lms-rollups", self.roll, interval_s)
        self.sent = 0

    def start(self) -> MetricRollupSync:
        self._periodic.start()
        return self

    def stop(self) -> None:
        self._periodic.stop()

    @staticmethod
    def _hour(t: float) -> int:
        return int(t // ROLLUP_HOUR_S) * ROLLUP_HOUR_S

    def roll(self, now: float | None = None) -> int:
        """Queue the buckets of the hours closed since the high mark; return how many rollups were queued."""
        now = time.time() if now is None else now
        until = self._hour(now - self._grace_s)
        mark = self._store.get_config(UNTIL_KEY)
        since = int(mark) if mark is not None and mark.isdigit() else self._hour(now - self._backfill_s)
        if until <= since:
            return 0
        period = self._period_s
        rows = metric_buckets(self._store, since, until, period)
        hours: dict[tuple[str, int], list[MetricRollup]] = {}
        for row in rows:
            if not topics.is_valid_id(row[0]):
                continue
            rollup = bucket_rollup(row, period)
            hours.setdefault((rollup.agent_id, self._hour(rollup.start)), []).append(rollup)
        messages: list[MetricRollups] = []
        batch: list[MetricRollup] = []
        for _key, group in sorted(hours.items()):
            if batch and len(batch) + len(group) > MAX_ROLLUPS:
                messages.append(MetricRollups(rollups=batch))
                batch = []
            batch.extend(group)
        if batch:
            messages.append(MetricRollups(rollups=batch))
        rollups = [r for m in messages for r in m.rollups]
        with self._store.transaction() as conn:
            created = time.time()
            for message in messages:
                OutboxRows.insert(conn, self._topic, encode(message), created)
            Store.write_config(conn, UNTIL_KEY, str(until))
        if messages:
            self._outbox.wake()
            self.sent += len(rollups)
            log.info("rollups: queued %d rollup(s) up to %d", len(rollups), until)
        return len(rollups)


def bucket_rollup(row: tuple[Any, ...], period_s: int) -> MetricRollup:
    """One row of :func:`~edge.lms.agents.metric_buckets` (agent, bucket start, samples, then min/avg/max of CPU,
    memory, disk %, receive and transmit rate) as a rollup: percentages to 2 decimals, rates in whole bytes/s, each
    average kept between its rounded min and max. A figure no sample of the bucket had (NULL: an older agent, a
    machine without disks, the first rate after a counter reset) stays absent, never 0."""
    agent_id, bucket, count, *figures = row
    cpu, mem, disk, rx, tx = (figures[i : i + 3] for i in range(0, 15, 3))
    cpu_min, cpu_avg, cpu_max = _percent(cpu)
    mem_min, mem_avg, mem_max = _percent(mem)
    disk_min, disk_avg, disk_max = _percent(disk)
    rx_min, rx_avg, rx_max = _rate(rx)
    tx_min, tx_avg, tx_max = _rate(tx)
    return MetricRollup(
        agent_id=agent_id, start=int(bucket), period_s=period_s, samples=int(count), cpu_min=cpu_min or 0.0,
        cpu_avg=cpu_avg or 0.0, cpu_max=cpu_max or 0.0, mem_min=mem_min, mem_avg=mem_avg, mem_max=mem_max,
        disk_min=disk_min, disk_avg=disk_avg, disk_max=disk_max, net_rx_min=rx_min, net_rx_avg=rx_avg,
        net_rx_max=rx_max, net_tx_min=tx_min, net_tx_avg=tx_avg, net_tx_max=tx_max,
    )  # fmt: skip


def _percent(trio: list[Any]) -> tuple[float | None, float | None, float | None]:
    """Two decimals are plenty for percentages (and keep messages small)."""
    if any(v is None for v in trio):
        return None, None, None
    low, avg, high = (min(max(round(float(v), 2), 0.0), 100.0) for v in trio)
    return low, min(max(avg, low), high), high


def _rate(trio: list[Any]) -> tuple[int | None, int | None, int | None]:
    """Whole bytes per second (a rate below 1 B/s is noise), within the schema's bound."""
    if any(v is None for v in trio):
        return None, None, None
    low, avg, high = (min(max(round(float(v)), 0), MAX_RATE_BPS) for v in trio)
    return low, min(max(avg, low), high), high
