"""An agent's metric charts (``GET /api/agents/{id}/metrics?range=hour|day|week``), read from the metric rollups
its site sends (``metric_rollups.py`` stores them: one item per agent and hour of 5-minute buckets).

Each range has a step: the last hour in 5-minute buckets as stored, the last day in 15-minute points and the last
week in hourly points, each point merged from the stored buckets it covers (samples summed, min of the minima,
max of the maxima, the sample-weighted mean of the means). No other table: the day and week views cost only the
reads of the hours they cover (docs/data-model.md, "Metric charts").

The window ends at the next multiple of :data:`WINDOW_ALIGN_S` after the clock; the route's ``ETag`` changes with
that window (and the agents' change mark), not with the rollups' writes: the intake bumps no change mark (the
``site_metrics`` function keeps its one table), so rollups that arrive inside a window are shown from the next one,
at most :data:`WINDOW_ALIGN_S` later. A site sends only closed hours anyway: the newest points are up to an hour
old (plus its ``grace_s``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.metric_bucket import OPTIONAL_FIGURES, WINDOW_ALIGN_S, MetricBucket, MetricRange
from chalicelib.domain.token import Principal
from chalicelib.repositories.metric_rollup import MetricRollupRepository
from chalicelib.services.agents import AgentService


@dataclass(frozen=True, slots=True)
class RangeView:
    """How far back a range looks and the step of its points (seconds)."""

    span_s: int
    step_s: int


VIEWS: dict[MetricRange, RangeView] = {
    MetricRange.HOUR: RangeView(3600, 300),
    MetricRange.DAY: RangeView(86_400, 900),
    MetricRange.WEEK: RangeView(7 * 86_400, 3600),
}


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One agent's points over ``[since, until)``, oldest first, ``step_s`` apart at most (gaps are absent)."""

    agent_id: str
    range: MetricRange
    since: int
    until: int
    step_s: int
    points: list[MetricBucket]

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "range": self.range.value,
            "since": self.since,
            "until": self.until,
            "step_s": self.step_s,
            "points": [p.to_dict() for p in self.points],
        }


class MetricHistoryService:
    def __init__(
        self, rollups: MetricRollupRepository, agents: AgentService, clock: Callable[[], float] = time.time
    ) -> None:
        self._rollups = rollups
        self._agents = agents
        self._clock = clock

    def series(self, agent_id: str, metric_range: MetricRange, principal: Principal) -> MetricSeries:
        """The agent's chart points; 404 (``unknown_agent``) unless the caller may see the agent's site."""
        self._agents.get(agent_id, principal)
        view = VIEWS[metric_range]
        until = (int(self._clock()) // WINDOW_ALIGN_S + 1) * WINDOW_ALIGN_S
        since = (until - view.span_s) // view.step_s * view.step_s
        buckets = self._rollups.between(agent_id, since, until)
        return MetricSeries(agent_id, metric_range, since, until, view.step_s, downsample(buckets, view.step_s))


def downsample(buckets: Iterable[MetricBucket], step_s: int) -> list[MetricBucket]:
    """Merge the buckets (oldest first) into points ``step_s`` long; a bucket as long as the step stays as it is."""
    groups: dict[int, list[MetricBucket]] = {}
    for bucket in buckets:
        groups.setdefault(bucket.start // step_s * step_s, []).append(bucket)
    return [
        merge(start, step_s, group) if len(group) > 1 or group[0].period_s != step_s else group[0]
        for start, group in sorted(groups.items())
    ]


def merge(start: int, period_s: int, group: list[MetricBucket]) -> MetricBucket:
    """Buckets of one point: samples summed, min of the minima, max of the maxima, sample-weighted mean. A figure
    besides CPU is merged from the buckets that have it (weighted by their samples) and stays absent when none has
    it: an older site's hours (no disk, no network) draw a gap, not a zero."""
    samples = sum(b.samples for b in group)
    cpu_min, cpu_max = min(b.cpu_min for b in group), max(b.cpu_max for b in group)
    figures: dict[str, float | None] = {}
    for name in OPTIONAL_FIGURES:
        figures.update(_merged(name, group))
    return MetricBucket(
        start,
        period_s,
        samples,
        cpu_min,
        min(max(round(sum(b.cpu_avg * b.samples for b in group) / samples, 2), cpu_min), cpu_max),
        cpu_max,
        *(figures[f"{name}_{part}"] for name in OPTIONAL_FIGURES for part in ("min", "avg", "max")),
    )


def _merged(name: str, group: list[MetricBucket]) -> dict[str, float | None]:
    trios = [
        (low, avg, high, b.samples)
        for b in group
        if (low := getattr(b, f"{name}_min")) is not None
        and (avg := getattr(b, f"{name}_avg")) is not None
        and (high := getattr(b, f"{name}_max")) is not None
    ]
    if not trios:
        return dict.fromkeys((f"{name}_min", f"{name}_avg", f"{name}_max"))
    low, high = min(t[0] for t in trios), max(t[2] for t in trios)
    mean = round(sum(t[1] * t[3] for t in trios) / sum(t[3] for t in trios), 2)
    return {f"{name}_min": low, f"{name}_avg": min(max(mean, low), high), f"{name}_max": high}
