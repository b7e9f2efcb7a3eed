"""The test-only event spool ([event_spool]): event files are published in name order, each deleted only once the
outbox took it (a refusal keeps it and those after it, in order), and a file that is not an event is set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.agent.config_models import AgentConfig
from edge.agent.event_spool import EventSpool
from shared.messages.structs import Event


def drop(directory: Path, name: str, n: int) -> None:
    body = {"type": "event", "timestamp": 1.0 + n, "kind": "health.test", "severity": "info", "message": f"#{n}",
            "data": {"seq": n}}  # fmt: skip
    (directory / name).write_text(json.dumps(body))


def test_events_go_in_name_order_and_a_refusal_keeps_them_for_the_next_turn(tmp_path: Path) -> None:
    for n in (3, 1, 2):
        drop(tmp_path, f"{n:06d}.json", n)
    published: list[Event] = []
    accept = [True, False]  # the outbox takes the first, refuses the second

    def publish(event: Event) -> bool:
        ok = accept.pop(0) if accept else True
        if ok:
            published.append(event)
        return ok

    spool = EventSpool(tmp_path, publish)
    assert spool.drain() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000002.json", "000003.json"]
    assert spool.drain() == 2
    assert [e.data["seq"] for e in published] == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_an_event_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / "000001.json").write_text('{"type": "event", "kind": 5}')
    (tmp_path / "000002.tmp").write_text("{half")  # not yet renamed into place: not read
    drop(tmp_path, "000003.json", 3)
    published: list[Event] = []

    def publish(event: Event) -> bool:
        published.append(event)
        return True

    assert EventSpool(tmp_path, publish).drain() == 1
    assert [e.data["seq"] for e in published] == [3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000001.bad", "000002.tmp"]


def test_the_section_is_off_by_default_and_checked(tmp_path: Path) -> None:
    base = {"agent_id": "pc-1", "mqtt": {"password": "pw"}}
    assert AgentConfig.model_validate(base).event_spool is None
    spool = AgentConfig.model_validate({**base, "event_spool": {"directory": str(tmp_path)}}).event_spool
    assert spool is not None and spool.directory == tmp_path and spool.interval_s == 0.5
    with pytest.raises(ValueError, match="interval_s"):
        AgentConfig.model_validate({**base, "event_spool": {"directory": str(tmp_path), "interval_s": 0}})
