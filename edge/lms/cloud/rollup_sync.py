"""Per-agent 5-minute metric rollups on their way to the cloud (``MetricRollups`` on ``site_up(..., METRICS)``).

One thread, every ``interval_s``, rolls up the ``metrics`` history table (min/avg/max of ``cpu_percent`` and
``mem_percent``, sample count, per 5-minute bucket) of the **hours** closed since the high mark ``rollup_until``
kept in ``lms_config``, and writes the messages to the durable outbox **in the same transaction** as the new
high mark: each bucket is sent once, also across restarts. Whole hours travel together (one agent's hour is
never split across messages) so that the cloud writes one item per agent per hour (the cost budget:
docs/seeds.md#budgets). An hour closes ``grace_s`` after its end (samples are written in batches); a sample
stored after its hour was rolled up is not sent. The first start rolls up at most ``backfill_s`` of history.
"""

from __future__ import annotations

import logging
import time

from edge.lms.agents import metric_buckets
from edge.lms.cloud.outbox import Outbox
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.store import Store
from shared import topics
from shared.messages import MAX_ROLLUPS, ROLLUP_HOUR_S, ROLLUP_PERIOD_S, MetricRollup, MetricRollups, encode
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

    def __init__(self, store: Store, outbox: Outbox, *, namespace: Namespace, site_id: str,
                 interval_s: float = DEFAULT_INTERVAL_S, grace_s: float = DEFAULT_GRACE_S,
                 backfill_s: float = DEFAULT_BACKFILL_S, period_s: int = ROLLUP_PERIOD_S) -> None:
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
        for agent_id, bucket, count, cmin, cavg, cmax, mmin, mavg, mmax in rows:
            if not topics.is_valid_id(agent_id):
                continue
            cpu_min, cpu_max = round(float(cmin), 2), round(float(cmax), 2)
            hours.setdefault((agent_id, self._hour(bucket)), []).append(MetricRollup(
                agent_id=agent_id, start=int(bucket), period_s=period, samples=int(count), cpu_min=cpu_min,
                cpu_avg=min(max(round(float(cavg), 2), cpu_min), cpu_max), cpu_max=cpu_max, mem_min=_r(mmin),
                mem_avg=_r(mavg), mem_max=_r(mmax),
            ))
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


def _r(value: float | None) -> float | None:
    """Two decimals are plenty for percentages (and keep messages small)."""
    return None if value is None else round(float(value), 2)
