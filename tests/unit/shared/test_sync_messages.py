"""AgentSnapshots: validation, the last-writer order, and batch splitting within the IoT Core limit."""

from __future__ import annotations

import json

import pytest

from shared.errors import ErrorCode, MessageError
from shared.messages import (
    MAX_PAYLOAD_BYTES,
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


def entry(agent: str = "pc-1", kind: SnapshotKind = SnapshotKind.SETTINGS, version: int = 1,
          data: dict[str, object] | None = None, epoch: str = "0001") -> SnapshotEntry:
    body = data if data is not None else {"theme": "dark"}
    return SnapshotEntry(agent_id=agent, kind=kind, epoch=epoch, version=version, hash=snapshot_hash(body),
                         data=body, updated_at=1764160000.0)


def test_round_trip() -> None:
    msg = AgentSnapshots(snapshots=[entry(), entry(kind=SnapshotKind.CLASSTOP, data={"courses": []})])
    back = decode(AgentSnapshots, encode(msg))
    assert back == msg
    assert back.type == "agent_snapshots" and back.v == 1


@pytest.mark.parametrize("change", [
    {"kind": "bogus"}, {"version": 0}, {"hash": "xyz"}, {"agent_id": "bad id"}, {"epoch": ""}, {"extra": 1},
])
def test_bad_entries_are_refused(change: dict[str, object]) -> None:
    raw = {"type": "agent_snapshots", "snapshots": [{**entry().model_dump(mode="json"), **change}]}
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
    big = {"blob": "x" * 30_000}
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
    return {"agent_id": "pc-1", "start": 1764159900, "samples": 10, "cpu_min": 1.0, "cpu_avg": 5.0,
            "cpu_max": 20.0, "mem_min": 40.0, "mem_avg": 41.0, "mem_max": 42.0, **change}


def test_metric_rollups_round_trip() -> None:
    msg = MetricRollups(rollups=[MetricRollup.model_validate(rollup())])
    back = decode(MetricRollups, encode(msg))
    assert back == msg and back.rollups[0].period_s == ROLLUP_PERIOD_S


@pytest.mark.parametrize("change", [
    {"start": 1764159901}, {"cpu_min": 30.0}, {"samples": 0}, {"mem_max": 101.0}, {"period_s": 10}, {"x": 1},
])
def test_bad_rollups_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(MessageError):
        decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [rollup(**change)]}))


def test_repeated_rollup_is_refused() -> None:
    with pytest.raises(MessageError, match="repeat"):
        decode(MetricRollups, encode_raw({"type": "metric_rollups", "rollups": [rollup(), rollup()]}))
