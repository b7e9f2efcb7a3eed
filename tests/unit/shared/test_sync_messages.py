"""AgentSnapshots: validation, the last-writer order, and batch splitting within the IoT Core limit."""

from __future__ import annotations

import json

import pytest

from shared.errors import ErrorCode, MessageError
from shared.messages import (
    MAX_PAYLOAD_BYTES,
    MAX_ROLLUPS,
    ROLLUP_PERIOD_S,
    AgentSnapshots,
    MetricRollup,
    MetricRollups,
    SnapshotEntry,
    SnapshotKind,
    decode,
    encode,
    snapshot_hash,
    split_snapshots,
)


def entry(
    agent: str = "pc-1",
    kind: SnapshotKind = SnapshotKind.SETTINGS,
    version: int = 1,
    data: dict[str, object] | None = None,
    epoch: str = "0001",
) -> SnapshotEntry:
    body = data if data is not None else {"theme": "dark"}
    return SnapshotEntry(
        agent_id=agent,
        kind=kind,
        epoch=epoch,
        version=version,
        hash=snapshot_hash(body),
        data=body,
        updated_at=1764160000.0,
    )


def test_round_trip() -> None:
    msg = AgentSnapshots(snapshots=[entry(), entry(kind=SnapshotKind.CLASSTOP, data={"courses": []})])
    back = decode(AgentSnapshots, encode(msg))
    assert back == msg
    assert back.type == "agent_snapshots" and back.v == 1


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "bogus"},
        {"version": 0},
        {"hash": "xyz"},
        {"agent_id": "bad id"},
        {"epoch": ""},
        {"extra": 1},
    ],
)
def test_bad_entries_are_refused(change: dict[str, object]) -> None:
    raw: dict[str, object] = {"type": "agent_snapshots", "snapshots": [{**entry().model_dump(mode="json"), **change}]}
    with pytest.raises(MessageError) as info:
        decode(AgentSnapshots, encode_raw(raw))
    assert info.value.code is ErrorCode.BAD_PAYLOAD


def encode_raw(raw: dict[str, object]) -> bytes:
    return json.dumps(raw).encode()


def test_empty_and_repeated_batches_are_refused() -> None:
    with pytest.raises(ValueError):
        AgentSnapshots(snapshots=[])
    with pytest.raises(ValueError, match="repeat"):
        AgentSnapshots(snapshots=[entry(version=1), entry(version=2)])


def test_hash_is_canonical() -> None:
    assert snapshot_hash({"a": 1, "b": "é"}) == snapshot_hash({"b": "é", "a": 1})
    assert snapshot_hash({"a": 1}) != snapshot_hash({"a": 2})


def test_order_compares_epoch_then_version() -> None:
    assert entry(epoch="0002", version=1).order() > entry(epoch="0001", version=9).order()
    assert entry(version=3).order() > entry(version=2).order()


def test_split_keeps_every_message_within_the_limit() -> None:
    big: dict[str, object] = {"blob": "x" * 30_000}
    entries = [entry(agent=f"pc-{i}", data=big) for i in range(10)]
    messages = split_snapshots(entries)
    assert len(messages) > 1
    assert all(len(encode(m)) <= MAX_PAYLOAD_BYTES for m in messages)
    assert [s.agent_id for m in messages for s in m.snapshots] == [e.agent_id for e in entries]


def test_split_separates_repeated_keys_and_caps_entries() -> None:
    messages = split_snapshots([entry(version=1), entry(version=2)])
    assert [len(m.snapshots) for m in messages] == [1, 1]
    many = split_snapshots([entry(agent=f"pc-{i}") for i in range(5)], max_entries=2)
    assert [len(m.snapshots) for m in many] == [2, 2, 1]
    assert split_snapshots([]) == []


def test_an_entry_too_big_for_one_message_is_an_error() -> None:
    with pytest.raises(MessageError) as info:
        split_snapshots([entry(data={"blob": "x" * MAX_PAYLOAD_BYTES})])
    assert info.value.code is ErrorCode.PAYLOAD_TOO_LARGE


def rollup(**change: object) -> dict[str, object]:
    return {
        "agent_id": "pc-1",
        "start": 1764159900,
        "samples": 10,
        "cpu_min": 1.0,
        "cpu_avg": 5.0,
        "cpu_max": 20.0,
        "mem_min": 40.0,
        "mem_avg": 41.0,
        "mem_max": 42.0,
        **change,
    }


def test_metric_rollups_round_trip() -> None:
    msg = MetricRollups(rollups=[MetricRollup.model_validate(rollup())])
    back = decode(MetricRollups, encode(msg))
    assert back == msg and back.rollups[0].period_s == ROLLUP_PERIOD_S


@pytest.mark.parametrize(
    "change",
    [
        {"start": 1764159901},
        {"cpu_min": 30.0},
        {"samples": 0},
        {"mem_max": 101.0},
        {"period_s": 10},
        {"x": 1},
    ],
)
def test_bad_rollups_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(MessageError):
        decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [rollup(**change)]}))


def test_repeated_rollup_is_refused() -> None:
    with pytest.raises(MessageError, match="repeat"):
        decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [rollup(), rollup()]}))


def test_an_older_sites_rollup_without_disk_or_network_is_accepted_as_absent() -> None:
    """Schema version rule: disk and network are optional additions (``v`` stays 1). An older site's rollup has
    none of them and is taken as it is, the figures absent (``None``: a gap in the charts, not a zero)."""
    (older,) = decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [rollup()]})).rollups
    assert (older.disk_avg, older.net_rx_avg, older.net_tx_avg) == (None, None, None)
    newer = rollup(disk_min=1.0, disk_avg=2.0, disk_max=3.0, net_rx_min=0, net_rx_avg=5, net_rx_max=9,
                   net_tx_min=0, net_tx_avg=0, net_tx_max=0)  # fmt: skip
    (back,) = decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [newer]})).rollups
    assert (back.disk_max, back.net_rx_avg, back.net_tx_max) == (3.0, 5, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"disk_min": 1.0, "disk_avg": 2.0},  # a trio comes whole or not at all
        {"net_rx_min": 3, "net_rx_avg": 2, "net_rx_max": 9},  # min <= avg <= max
        {"net_tx_min": -5, "net_tx_avg": 0, "net_tx_max": 0},  # a negative delta is not a rate
        {"net_tx_min": 0, "net_tx_avg": 0, "net_tx_max": 1e300},
        {"disk_min": 0.0, "disk_avg": 50.0, "disk_max": 100.01},
    ],
)
def test_bad_disk_or_network_figures_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(MessageError):
        decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [rollup(**change)]}))


def test_a_full_batch_of_the_widest_rollups_fits_one_message() -> None:
    """240 rollups with 64-character ids and every figure at its widest stay under IoT Core's limit."""
    widest = {"cpu_min": 10.01, "cpu_avg": 55.55, "cpu_max": 99.99, "mem_min": 10.01, "mem_avg": 55.55,
              "mem_max": 99.99, "disk_min": 10.01, "disk_avg": 55.55, "disk_max": 99.99}  # fmt: skip
    rates = {f"net_{d}_{p}": 12_345_678_901 for d in ("rx", "tx") for p in ("min", "avg", "max")}
    batch = MetricRollups(rollups=[
        MetricRollup(agent_id=f"{i:064d}", start=1764158400 + (i % 12) * 300, samples=9999, **widest, **rates)
        for i in range(MAX_ROLLUPS)
    ])  # fmt: skip
    assert len(encode(batch)) < MAX_PAYLOAD_BYTES
