"""The stored formats of an agent's hour of metric rollups (``repositories/metric_rollup_format.py``), on moto: the
packed format round-trips every figure the LMS sends, fits an hour in one write unit, and the two JSON formats
written before still read, through the repository and the charts' route; a corrupt stored hour is skipped with a
warning (the chart shows a gap), never a 500."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import replace
from typing import Any

import pytest
from test_cloud_agent_metrics import as_received, item_size

from chalicelib.domain.metric_bucket import BUCKET_FIELDS, MetricBucket
from chalicelib.models.metric_rollup import MetricRollupModel
from chalicelib.repositories.base import expiry
from chalicelib.repositories.metric_rollup import MetricRollupRepository
from chalicelib.repositories.metric_rollup_format import (
    CorruptRollup,
    decode_json,
    decode_packed,
    encode_packed,
)
from shared.messages import MetricRollup
from shared.messages.sync import MAX_RATE_BPS
from tests.unit.cloud.cloud_testkit import Cloud, online

HOUR_S = 3600
RETENTION_S = 30 * 86_400


def realistic_hour(
    agent: str,
    hour: int,
    seed: int,
    *,
    figures: tuple[str, ...] = ("mem", "disk", "net_rx", "net_tx"),
    max_rate: int = 50_000_000,
) -> list[MetricRollup]:
    """An hour as the LMS sends it (``edge/lms/cloud/rollup_sync.py``: percentages rounded to 2 decimals, rates
    whole bytes/s), every value different: nothing for a compressor to repeat."""
    rng = random.Random(seed)

    def percent() -> tuple[float, float, float]:
        low, high = sorted(round(rng.uniform(0, 100), 2) for _ in range(2))
        return low, round(rng.uniform(low, high), 2), high

    def rate() -> tuple[int, int, int]:
        low, high = sorted(rng.randint(0, max_rate) for _ in range(2))
        return low, rng.randint(low, high), high

    out = []
    for i in range(12):
        values: dict[str, Any] = {"agent_id": agent, "start": hour + i * 300, "samples": rng.randint(1, 60)}
        for name in ("cpu", *figures):
            trio = rate() if name.startswith("net") else percent()
            values |= dict(zip((f"{name}_min", f"{name}_avg", f"{name}_max"), trio, strict=True))
        out.append(MetricRollup(**values))
    return out


def as_buckets(rollups: list[MetricRollup]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.model_dump().items() if k != "agent_id"} for r in rollups]


def stored(agent: str) -> list[dict[str, Any]]:
    return [b.to_dict() for b in MetricRollupRepository().between(agent, 0, 2**40)]


@pytest.fixture
def agents(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    return cloud


def test_realistic_hours_round_trip_exactly_and_fit_one_write_unit(cloud: Cloud) -> None:
    hour = 1_764_158_400
    hours = {
        "every-figure": realistic_hour("every-figure", hour, 1),
        "older-site": realistic_hour("older-site", hour, 2, figures=("mem",)),  # CPU and memory only
        "cpu-only": realistic_hour("cpu-only", hour, 3, figures=()),
        "rx-only": realistic_hour("rx-only", hour, 4, figures=("net_rx",)),  # a figure missing in the middle
    }
    for agent, rollups in hours.items():
        MetricRollupRepository().put_many("s1", as_received(rollups), RETENTION_S)
        assert stored(agent) == as_buckets(rollups), agent
        (item,) = MetricRollupModel.query(agent)
        assert item.buckets is None and item.packed is not None  # only the packed format is written
        assert item_size(item) < 1024, (agent, item_size(item))


def test_the_largest_hour_fits_one_write_unit() -> None:
    """The widest hour the contract allows at the LMS's rounding: 64-character ids, every percentage 99.99 and
    distinct rates at the contract's ceiling (100 Gbit/s), 60 samples; and its bucket count at the most the LMS
    sends (12: 5-minute buckets)."""
    hour = 1_764_158_400
    buckets = [
        MetricBucket(hour + i * 300, 300, 60, *([99.99] * 9), *(MAX_RATE_BPS - i * 6 - k for k in range(6)))
        for i in range(12)
    ]
    item = MetricRollupModel(
        "a" * 64, hour, site_id="s" * 64, packed=encode_packed(hour, buckets), ttl=expiry(hour + 31 * 86_400)
    )
    assert item_size(item) < 1024, item_size(item)
    assert decode_packed(hour, item.packed or b"") == buckets


def test_every_two_decimal_percentage_and_rate_is_kept_exactly() -> None:
    """Percentages are stored in hundredths, rates in whole bytes/s: every value the LMS can send comes back equal
    (the same float), from 0 to 100.00 and from 0 to the contract's ceiling."""
    hour = 0
    percents = [n / 100 for n in range(10_001)]
    rates = [0, 1, 127, 128, 16_383, 16_384, 2**32 - 1, 2**32, MAX_RATE_BPS]
    for first in range(0, len(percents), 9):
        values = (percents[first : first + 9] + [0.0] * 9)[:9]
        bucket = MetricBucket(0, 300, 1, *values, *[rates[first % len(rates)]] * 6)
        assert decode_packed(hour, encode_packed(hour, [bucket])) == [bucket]
    for rate in rates:
        bucket = MetricBucket(0, 300, 1, 1.0, 2.0, 3.0, net_tx_min=rate, net_tx_avg=rate, net_tx_max=rate)
        assert decode_packed(hour, encode_packed(hour, [bucket])) == [bucket]


def test_a_percentage_with_more_decimals_is_kept_to_two() -> None:
    """Another sender's third decimal is below what a chart shows: it is rounded, not refused."""
    bucket = MetricBucket(0, 300, 1, 1.234, 5.678, 9.996)
    assert decode_packed(0, encode_packed(0, [bucket])) == [replace(bucket, cpu_min=1.23, cpu_avg=5.68, cpu_max=10.0)]


def test_hours_written_in_both_json_formats_still_read_and_chart_alike(agents: Cloud) -> None:
    """Items written before the packed format (JSON v2 rows, and the first list of objects) read as the same
    buckets, and the charts' route answers the same points for them as for the packed hour."""
    hour = int(agents.clock.now) // HOUR_S * HOUR_S - HOUR_S
    rollups = realistic_hour("a1", hour, 7)
    rows = [[getattr(r, name) for name in BUCKET_FIELDS] for r in rollups]
    formats = {
        "a1": None,  # packed, through the repository
        "a2": json.dumps({"v": 2, "b": rows}, separators=(",", ":")),
        "a3": json.dumps([{k: v for k, v in b.items() if v is not None} for b in as_buckets(rollups)]),
    }
    agents.heartbeat("s1", [online("a1"), online("a2"), online("a3")])
    MetricRollupRepository().put_many("s1", as_received(rollups), RETENTION_S)
    for agent, text in formats.items():
        if text is not None:
            MetricRollupModel(agent, hour, site_id="s1", buckets=text, ttl=expiry(hour + RETENTION_S)).save()
    for agent in formats:
        assert stored(agent) == as_buckets(rollups), agent
    charts = {
        agent: {
            rng: agents.get(f"/api/agents/{agent}/metrics?range={rng}").json_body["data"]["points"]
            for rng in ("hour", "day", "week")
        }
        for agent in formats
    }
    assert charts["a1"]["day"], charts  # the hour is in the window
    assert charts["a1"] == charts["a2"] == charts["a3"]


@pytest.mark.parametrize(
    ("what", "packed"),
    [
        ("empty", b""),
        ("unknown marker", b"\x09\x00"),
        ("the JSON format's text as bytes", b'{"v":2,"b":[]}'),
        ("no bucket count", b"\x03"),
        ("truncated bucket", b"\x03\x01\x00\xac"),
        ("more buckets than an hour holds", b"\x03\xff"),
        ("bytes after the last bucket", b"\x03\x00\x00"),
        ("start past the hour", b"\x03\x01\x90\x1c\xac\x02\x01\x00\x01\x02\x03"),
        ("unknown figure in the mask", b"\x03\x01\x00\xac\x02\x01\x80\x20\x01\x02\x03"),
        ("percentage over 100", b"\x03\x01\x00\xac\x02\x01\x00\x91\x4e\x02\x03"),
        ("endless varint", b"\x03\x01" + b"\xff" * 20),
    ],
)
def test_a_corrupt_packed_hour_raises_a_clear_error(what: str, packed: bytes) -> None:
    with pytest.raises(CorruptRollup, match="metric rollup hour 0"):
        decode_packed(0, packed)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "null",
        "42",
        '{"v": 9, "b": []}',
        '{"v": 2}',
        '{"v": 2, "b": [[1]]}',
        '[{"start": "x"}]',
        '{"v": 2, "b": [[0, 300, 1, "a", 1, 1]]}',
    ],
)
def test_a_corrupt_json_hour_raises_a_clear_error(text: str) -> None:
    with pytest.raises(CorruptRollup, match="metric rollup buckets"):
        decode_json(text)


def test_a_corrupt_stored_hour_is_skipped_and_the_chart_still_answers(
    agents: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack: a damaged item (or one written by a bug) must not take an agent's charts down: the route answers
    200 with the other hours' points and the damaged hour is logged."""
    hour = int(agents.clock.now) // HOUR_S * HOUR_S - 3 * HOUR_S
    for n in range(3):
        MetricRollupRepository().put_many("s1", as_received(realistic_hour("a1", hour + n * HOUR_S, n)), RETENTION_S)
    MetricRollupModel("a1", hour + HOUR_S, site_id="s1", packed=b"\x03\x05\x00", ttl=expiry(hour + RETENTION_S)).save()
    MetricRollupModel("a1", hour - HOUR_S, site_id="s1", buckets="{not json", ttl=expiry(hour + RETENTION_S)).save()
    MetricRollupModel("a1", hour - 2 * HOUR_S, site_id="s1", ttl=expiry(hour + RETENTION_S)).save()  # neither attribute
    with caplog.at_level(logging.WARNING, logger="chalicelib.repositories.metric_rollup"):
        response = agents.get("/api/agents/a1/metrics?range=day")
    assert response.status_code == 200, response.json_body
    starts = {p["start"] for p in response.json_body["data"]["points"]}
    assert any(hour <= s < hour + HOUR_S for s in starts) and any(s >= hour + 2 * HOUR_S for s in starts)
    assert not any(hour + HOUR_S <= s < hour + 2 * HOUR_S for s in starts)  # the damaged hour is a gap
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3, skipped


def test_a_value_the_format_cannot_hold_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="not in the hour"):
        encode_packed(3600, [MetricBucket(0, 300, 1, 1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match="finite number >= 0"):
        encode_packed(0, [MetricBucket(0, 300, 1, -1.0, 1.0, 1.0)])
    with pytest.raises(ValueError, match="finite number >= 0"):
        encode_packed(0, [MetricBucket(0, 300, 1, float("nan"), 1.0, 1.0)])
