"""``GET /api/agents/{id}/metrics?range=hour|day|week``: an agent's charts from the metric rollups its site sent
(``site_metrics`` rule): points per range, merged min/avg/max (CPU, memory, disk, network), the window, the ETag,
site scope (another site's operator or viewer sees nothing, exactly like an unknown agent), an older site's rollups
(no disk, no network: gaps, not zeros) and the stored item's size."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_cloud_polling import aws_calls, poll

from chalicelib import container
from chalicelib.domain.metric_bucket import WINDOW_ALIGN_S, MetricBucket
from chalicelib.models.metric_rollup import MetricRollupModel
from chalicelib.repositories.metric_rollup import MetricRollupRepository, stored_buckets
from chalicelib.repositories.metric_rollup_format import decode_json
from chalicelib.services.metric_history import downsample
from shared.messages import MetricRollup, structs
from shared.messages.sync import MAX_RATE_BPS
from tests.unit.cloud.cloud_testkit import Cloud, online

HOUR_S = 3600
#: the figures an older site (CPU and memory only) leaves out: null in every point
NO_DISK_NO_NET = {f"{name}_{part}": None for name in ("disk", "net_rx", "net_tx") for part in ("min", "avg", "max")}


@pytest.fixture
def fleet(cloud: Cloud) -> Cloud:
    cloud.heartbeat("s1", [online("a1"), online("a2")])
    cloud.heartbeat("s2", [online("b1")])
    return cloud


def now_hour(cloud: Cloud) -> int:
    return int(cloud.clock.now) // HOUR_S * HOUR_S


def bucket(
    agent: str,
    start: int,
    cpu: tuple[float, float, float] = (5.0, 10.0, 20.0),
    mem: tuple[float, float, float] | None = (40.0, 45.0, 50.0),
    samples: int = 30,
    disk: tuple[float, float, float] | None = None,
    rx: tuple[int, int, int] | None = None,
    tx: tuple[int, int, int] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agent_id": agent,
        "start": start,
        "period_s": 300,
        "samples": samples,
        "cpu_min": cpu[0],
        "cpu_avg": cpu[1],
        "cpu_max": cpu[2],
    }
    for name, trio in (("mem", mem), ("disk", disk), ("net_rx", rx), ("net_tx", tx)):
        if trio is not None:
            out |= {f"{name}_min": trio[0], f"{name}_avg": trio[1], f"{name}_max": trio[2]}
    return out


def send(cloud: Cloud, site_id: str, *rollups: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = cloud.invoke(
        "site_metrics", {"type": "metric_rollups", "v": 1, "rollups": list(rollups), "site_id": site_id}
    )
    assert report["ok"], report
    return report


def hour_of(agent: str, start: int, **kw: Any) -> list[dict[str, Any]]:
    return [bucket(agent, start + i * 300, **kw) for i in range(12)]


def metrics(cloud: Cloud, agent: str = "a1", query: str = "", role: str | None = "admin") -> Any:
    return cloud.request("GET", f"/api/agents/{agent}/metrics{query}", role=role)


def test_the_hour_is_the_stored_5_minute_buckets_of_the_window(fleet: Cloud) -> None:
    previous = now_hour(fleet) - HOUR_S
    send(fleet, "s1", *hour_of("a1", previous - HOUR_S), *hour_of("a1", previous), *hour_of("a2", previous))
    answer = metrics(fleet)  # no range: the hour
    assert answer.status_code == 200, answer.json_body
    data = answer.json_body["data"]
    until = (int(fleet.clock.now) // WINDOW_ALIGN_S + 1) * WINDOW_ALIGN_S
    assert (data["agent_id"], data["range"], data["step_s"], data["until"], data["since"]) == (
        "a1",
        "hour",
        300,
        until,
        until - HOUR_S,
    )
    starts = [p["start"] for p in data["points"]]
    assert starts == sorted(starts) and starts and all(until - HOUR_S <= s < until for s in starts)
    assert starts == [s for s in range(previous, previous + HOUR_S, 300) if s >= until - HOUR_S]
    assert data["points"][0] == {
        "start": starts[0],
        "period_s": 300,
        "samples": 30,
        "cpu_min": 5.0,
        "cpu_avg": 10.0,
        "cpu_max": 20.0,
        "mem_min": 40.0,
        "mem_avg": 45.0,
        "mem_max": 50.0,
        **NO_DISK_NO_NET,
    }
    assert metrics(fleet, query="?range=").json_body["data"] == data  # empty: not given


def test_the_day_merges_buckets_into_15_minute_points(fleet: Cloud) -> None:
    start = now_hour(fleet) - 3 * HOUR_S
    send(
        fleet,
        "s1",
        bucket("a1", start, cpu=(1.0, 10.0, 30.0), samples=10),
        bucket("a1", start + 300, cpu=(2.0, 40.0, 90.0), mem=None, samples=30),
        bucket("a1", start + 600, cpu=(3.0, 20.0, 25.0), mem=(10.0, 20.0, 70.0), samples=20),
        bucket("a1", start + 900, cpu=(7.0, 8.0, 9.0), samples=5),
    )
    data = metrics(fleet, query="?range=day").json_body["data"]
    assert (data["range"], data["step_s"]) == ("day", 900)
    assert data["until"] - data["since"] >= 86_400 and data["since"] % 900 == 0
    first, second = data["points"]
    # samples summed, min of minima, max of maxima, means weighted by samples; memory only where it was measured
    assert first == {
        "start": start,
        "period_s": 900,
        "samples": 60,
        "cpu_min": 1.0,
        "cpu_avg": round((10 * 10 + 40 * 30 + 20 * 20) / 60, 2),
        "cpu_max": 90.0,
        "mem_min": 10.0,
        "mem_avg": round((45 * 10 + 20 * 20) / 30, 2),
        "mem_max": 70.0,
        **NO_DISK_NO_NET,
    }
    assert second["start"] == start + 900 and second["samples"] == 5 and second["period_s"] == 900


def test_the_week_is_hourly_and_reaches_back_seven_days(fleet: Cloud) -> None:
    old = now_hour(fleet) - 6 * 86_400
    too_old = now_hour(fleet) - 8 * 86_400
    send(fleet, "s1", *hour_of("a1", old), *hour_of("a1", too_old))
    data = metrics(fleet, query="?range=week").json_body["data"]
    assert (data["step_s"], [p["start"] for p in data["points"]]) == (3600, [old])
    assert data["points"][0]["samples"] == 12 * 30 and data["points"][0]["period_s"] == 3600
    assert metrics(fleet, query="?range=hour").json_body["data"]["points"] == []


@pytest.mark.parametrize("query", ["?range=year", "?range=HOUR", "?range=" + "h" * 300])
def test_a_bad_range_is_a_400(fleet: Cloud, query: str) -> None:
    answer = metrics(fleet, query=query)
    assert answer.status_code == 400 and "range" in answer.json_body["error"]["message"]


def test_unknown_agents_and_callers(fleet: Cloud) -> None:
    assert metrics(fleet, "nobody").status_code == 404
    assert metrics(fleet, "bad%20id").status_code in (400, 404)
    assert metrics(fleet, role=None).status_code == 401
    assert metrics(fleet, role="viewer").status_code == 200


def test_another_sites_operator_cannot_read_an_agents_metrics(fleet: Cloud) -> None:
    """The attack: an operator (or viewer) of school s2 asks for s1's agent: 404, as for an unknown agent, with
    no data, even naming the range or sending a tag it made elsewhere."""
    previous = now_hour(fleet) - HOUR_S
    send(fleet, "s1", *hour_of("a1", previous))
    send(fleet, "s2", *hour_of("b1", previous))
    tokens = container.get().tokens
    for role in ("operator", "viewer"):
        secret = tokens.create(role, f"s2-{role}", site_ids=["s2"]).secret
        headers = {"Authorization": f"Bearer {secret}"}
        mine = fleet.request("GET", "/api/agents/b1/metrics?range=day", role=None, headers=headers)
        assert mine.status_code == 200 and mine.json_body["data"]["points"]
        for query in ("", "?range=day", "?range=week"):
            theirs = fleet.request("GET", f"/api/agents/a1/metrics{query}", role=None, headers=headers)
            assert theirs.status_code == 404 and "points" not in str(theirs.json_body), theirs.json_body
        tag = metrics(fleet, "a1").headers["ETag"]  # the admin's tag for a1: worth nothing to another caller
        probe = fleet.request("GET", "/api/agents/a1/metrics", role=None, headers={**headers, "If-None-Match": tag})
        assert probe.status_code == 404
    # a site cannot plant rollups of another site's agent either (the intake rejects them)
    assert send(fleet, "s2", bucket("a1", previous - HOUR_S))["rejected"] == 1
    assert len(metrics(fleet, "a1", "?range=day").json_body["data"]["points"]) == 4


def test_an_unchanged_poll_is_a_304_until_the_window_moves_or_the_agent_changes(fleet: Cloud) -> None:
    path = "/api/agents/a1/metrics?range=day"
    first = poll(fleet, path)
    assert first.status_code == 200 and first.json_body["data"]["points"] == []
    with aws_calls() as made:
        again = poll(fleet, path, first.headers["ETag"])
    assert again.status_code == 304 and made == ["GetItem", "BatchGetItem"], made
    assert poll(fleet, "/api/agents/a1/metrics?range=week", first.headers["ETag"]).status_code == 200  # its own tag
    # rollups arriving inside the window are shown from the next window on (the intake bumps no change mark)
    send(fleet, "s1", *hour_of("a1", now_hour(fleet) - HOUR_S))
    fleet.clock.advance(WINDOW_ALIGN_S)
    moved = poll(fleet, path, first.headers["ETag"])
    assert moved.status_code == 200 and moved.json_body["data"]["points"]
    assert moved.json_body["data"]["until"] == first.json_body["data"]["until"] + WINDOW_ALIGN_S
    tag = moved.headers["ETag"]
    assert poll(fleet, path, tag).status_code == 304
    fleet.put("/api/agents/a1/tags", {"tags": ["lab"]})  # a write to the agents' area: a new answer
    assert poll(fleet, path, tag).status_code == 200


def test_downsample_keeps_a_bucket_as_long_as_the_step() -> None:
    b = MetricBucket(start=600, period_s=300, samples=3, cpu_min=1.0, cpu_avg=2.0, cpu_max=3.0)
    assert downsample([b], 300) == [b]
    merged = downsample([b], 3600)
    assert merged[0].start == 0 and merged[0].period_s == 3600 and merged[0].mem_avg is None
    assert downsample([], 900) == []


def test_disk_and_network_merge_like_the_others_and_an_older_sites_hours_are_gaps(fleet: Cloud) -> None:
    """Disk (the fullest mount's used %) and network (bytes/s) points: min of minima, max of maxima, means weighted
    by the samples of the buckets that have the figure. A bucket from an older site (CPU and memory only) adds
    nothing to them: a point made only of such buckets has them null (the chart's gap), never 0."""
    start = now_hour(fleet) - 3 * HOUR_S
    send(
        fleet,
        "s1",
        bucket("a1", start, disk=(50.0, 51.0, 52.0), rx=(100, 2_000, 9_000), tx=(0, 500, 1_000), samples=10),
        bucket("a1", start + 300, disk=(52.0, 53.5, 55.0), rx=(300, 4_000, 20_000), tx=(10, 1_500, 4_000), samples=30),
        bucket("a1", start + 600, samples=20),  # an older site's bucket: no disk, no network
        bucket("a1", start + 900, samples=5),  # the next point holds only such buckets
    )
    first, second = metrics(fleet, query="?range=day").json_body["data"]["points"]
    assert (first["disk_min"], first["disk_avg"], first["disk_max"]) == (
        50.0,
        round((51 * 10 + 53.5 * 30) / 40, 2),
        55.0,
    )
    assert (first["net_rx_min"], first["net_rx_avg"], first["net_rx_max"]) == (100, 3_500, 20_000)
    assert (first["net_tx_min"], first["net_tx_avg"], first["net_tx_max"]) == (0, 1_250, 4_000)
    assert first["samples"] == 60 and first["cpu_avg"] == 10.0
    assert {k: second[k] for k in NO_DISK_NO_NET} == NO_DISK_NO_NET
    # the hour's 5-minute points as stored: the older bucket's figures are null, not zero
    hour = {p["start"]: p for p in metrics(fleet, query="?range=hour").json_body["data"]["points"]}
    if start + 600 in hour:  # still inside the hour's window
        assert {k: hour[start + 600][k] for k in NO_DISK_NO_NET} == NO_DISK_NO_NET


@pytest.mark.parametrize(
    "change",
    [
        {"disk_avg": None},  # a trio comes whole or not at all
        {"net_rx_min": None},
        {"net_tx_min": 9, "net_tx_avg": 5, "net_tx_max": 10},  # min <= avg <= max
        {"disk_max": 100.5},
        {"net_rx_max": -1},  # a counter reset is no (negative) rate
        {"net_rx_max": MAX_RATE_BPS + 1},
        {"net_tx_avg": 1.5},  # whole bytes per second
        {"net_tx_avg": "1k"},
        {"net_speed": 1},  # unknown field
    ],
)
def test_a_bad_disk_or_network_figure_refuses_the_batch_and_writes_nothing(
    fleet: Cloud, change: dict[str, Any]
) -> None:
    previous = now_hour(fleet) - HOUR_S
    good = bucket("a1", previous, disk=(1.0, 2.0, 3.0), rx=(1, 5, 10), tx=(1, 5, 10))
    report = fleet.invoke(
        "site_metrics", {"type": "metric_rollups", "v": 1, "rollups": [good, good | {"start": previous + 300} | change],
                         "site_id": "s1"},
    )  # fmt: skip
    assert not report["ok"], report
    assert metrics(fleet, query="?range=day").json_body["data"]["points"] == []


def test_the_stored_hour_stays_within_one_write_unit(cloud: Cloud) -> None:
    """Write units are billed on the whole item (1 KB each): an hour of 12 buckets with every figure at its widest
    (the longest ids, percentages like 99.99, rates near 10 Gbit/s) is under 1 KB in the packed format (the compact
    JSON before it needed up to 2 KB: docs/data-model.md, "Metric charts"); and it reads back as the buckets it was
    made from."""
    agent = "a" * 64
    hour = 1_764_158_400
    rollups = [
        MetricRollup(agent_id=agent, start=hour + i * 300, samples=20, cpu_min=10.01, cpu_avg=55.55, cpu_max=99.99,
                     mem_min=10.01, mem_avg=55.55, mem_max=99.99, disk_min=10.01, disk_avg=55.55, disk_max=99.99,
                     net_rx_min=1_234_567_891, net_rx_avg=1_234_567_892, net_rx_max=1_234_567_893,
                     net_tx_min=1_234_567_891, net_tx_avg=1_234_567_892, net_tx_max=1_234_567_893)
        for i in range(12)
    ]  # fmt: skip
    MetricRollupRepository().put_many("s" * 64, as_received(rollups), 30 * 86_400)
    (item,) = list(MetricRollupModel.query(agent))
    size = item_size(item)
    assert size < 1024, size
    assert item.buckets is None
    assert [b.to_dict() for b in stored_buckets(item)] == [
        {k: v for k, v in r.model_dump().items() if k != "agent_id"} for r in rollups
    ]
    # the first stored format (one object per bucket) still reads
    old = json.dumps([{k: v for k, v in r.model_dump().items() if k != "agent_id" and v is not None} for r in rollups])
    assert decode_json(old)[0].disk_max == 99.99


def as_received(rollups: list[MetricRollup]) -> list[structs.MetricRollup]:
    """The rollups as the cloud's ``site_metrics`` handler decodes them (the msgspec mirror)."""
    return [structs.validate(structs.MetricRollup, r.model_dump(mode="json")) for r in rollups]


def item_size(item: MetricRollupModel) -> int:
    """DynamoDB's size of an item: attribute names and values (UTF-8; a number ~1 byte per 2 digits + 1)."""
    size = 0
    for name, value in item.serialize().items():
        ((kind, raw),) = value.items()
        size += len(name.encode())
        if kind == "B":
            size += len(raw)
        else:
            size += len(raw.encode()) if kind == "S" else (len(raw.strip("-").replace(".", "")) + 1) // 2 + 1
    return size
