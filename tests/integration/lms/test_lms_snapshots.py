"""Agents' snapshots travel LMS -> cloud (``AgentSnapshots`` on ``up/sync``): a settings change on an agent is
sent once, a ClassTop timetable too, and after an LMS restart nothing unchanged is sent again."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from edge.lms.cloud import Outbox, SnapshotSync
from edge.lms.cloud.outbox_rows import OutboxRows
from edge.lms.legacy.timetable import Timetables
from edge.lms.store import Store
from shared import topics
from shared.classtop_wire import SyncUpload
from shared.messages import AgentSnapshots, Event, StateData, StateUpdate, decode, encode
from shared.topics import AgentUp, SiteUp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.lms.lms_harness import NS, SITE, AgentFactory, LmsFactory, SimAgent, eventually, start_with_cloud

pytestmark = pytest.mark.integration

SYNC = topics.site_up(NS, SITE, SiteUp.SYNC)
TIMETABLE = {"epoch": "9f2c4b1a0d3e5f67", "version": 4, "hash": "a" * 64, "updated_at": 1764160000.0,
             "courses": [{"id": 1, "name": "数学", "teacher": "王老师", "location": "A101", "color": "#6750A4"}],
             "schedule_entries": [{"id": 3, "course_id": 1, "day_of_week": 1, "start_time": "08:00",
                                   "end_time": "08:45", "weeks": [1, 2]}]}


def sync_messages(probe: MqttProbe) -> list[AgentSnapshots]:
    return [decode(AgentSnapshots, m.payload) for m in list(probe.messages) if m.topic == SYNC]


def entries(probe: MqttProbe) -> list[tuple[str, str, int]]:
    return [(s.agent_id, s.kind.value, s.version) for m in sync_messages(probe) for s in m.snapshots]


def send_settings(agent: SimAgent, settings: dict[str, str]) -> None:
    agent.publish(AgentUp.STATE, encode(StateUpdate(data=StateData(settings=settings))))


def wait_entries(probe: MqttProbe, count: int) -> list[tuple[str, str, int]]:
    found: list[tuple[str, str, int]] = eventually(lambda: entries(probe) if len(entries(probe)) >= count else None,
                                                   15.0, what=f"{count} snapshot entries")
    return found


def test_settings_and_timetables_travel_once_and_not_again_after_a_restart(
    lms_factory: LmsFactory, agents: AgentFactory, cloud_broker: Broker
) -> None:
    cloud, lms = start_with_cloud(lms_factory, cloud_broker, SYNC)
    a1 = agents("agent-1").start()
    a2 = agents("agent-2").start()
    lms.wait_agents("agent-1", "agent-2")

    send_settings(a1, {"theme_mode": "dark", "font_size": "14"})
    assert wait_entries(cloud, 1) == [("agent-1", "settings", 1)]
    first = sync_messages(cloud)
    assert len(first) == 1
    settings = first[0].snapshots[0]
    assert settings.data == {"settings": {"theme_mode": "dark", "font_size": "14"}}
    epoch = settings.epoch

    # a later change (another agent's timetable) arrives after it: agent-1's unchanged settings were not resent
    a2.publish(AgentUp.EVENT, encode(Event(timestamp=time.time(), kind="classtop.snapshot", data=TIMETABLE)))
    assert wait_entries(cloud, 2) == [("agent-1", "settings", 1), ("agent-2", "classtop", 1)]
    timetable: dict[str, Any] = sync_messages(cloud)[1].snapshots[0].data
    assert timetable["epoch"] == TIMETABLE["epoch"] and timetable["version"] == 4
    assert [c["name"] for c in timetable["courses"]] == ["数学"] and timetable["schedule_entries"][0]["id"] == 3

    assert lms.stop() == 0, lms.log()
    cloud.messages.clear()
    lms.start()
    send_settings(a1, {"theme_mode": "dark", "font_size": "16"})
    # the only thing sent after the restart is the change: version 2 of the same epoch, nothing unchanged
    assert wait_entries(cloud, 1) == [("agent-1", "settings", 2)]
    again = sync_messages(cloud)
    assert len(again) == 1 and again[0].snapshots[0].epoch == epoch
    assert again[0].snapshots[0].data == {"settings": {"theme_mode": "dark", "font_size": "16"}}


def test_legacy_uploads_and_cctv_configs_are_picked_up_once(tmp_path: Path) -> None:
    with Store(tmp_path / "lms.db") as store:
        sync = SnapshotSync(store, Outbox(store), namespace=NS, site_id=SITE)
        Timetables(store).sync(SyncUpload.model_validate(
            {"client_uuid": "legacy-1", "courses": [{"id": 7, "name": "Art"}], "schedule_entries": []}))
        answer = {"stream_server": {"running": True, "host": "10.0.0.5", "port": 8554, "token": "s3cret"},
                  "cameras": [{"id": "door", "password": "x"}]}
        with store.transaction() as conn:
            conn.execute("INSERT INTO command_logs (client_uuid, command, response, success, executed_at) "
                         "VALUES ('agent-1', 'cctv_get_config', ?, 1, 0)", (json.dumps(answer),))
            conn.execute("INSERT INTO command_logs (client_uuid, command, response, success, executed_at) "
                         "VALUES ('agent-2', 'cctv_get_config', '{\"error\": \"x\"}', 0, 0)")
        assert sync.scan() == 2
        assert sync.scan() == 0  # nothing changed
        Timetables(store).sync(SyncUpload.model_validate(  # the same upload again: not a change
            {"client_uuid": "legacy-1", "courses": [{"id": 7, "name": "Art"}], "schedule_entries": []}))
        assert sync.scan() == 0
        (message,) = [decode(AgentSnapshots, i.payload) for i in OutboxRows(store).peek() if i.topic == SYNC]
        got = {(s.agent_id, s.kind.value): s.data for s in message.snapshots}
        assert got[("legacy-1", "classtop")]["courses"][0]["name"] == "Art"
        assert got[("legacy-1", "classtop")]["source"] == "http"
        redacted = {"stream_server": {"running": True, "host": "10.0.0.5", "port": 8554}, "cameras": [{"id": "door"}]}
        assert got[("agent-1", "cctv_config")] == {"config": redacted}
        Timetables(store).sync(SyncUpload.model_validate(
            {"client_uuid": "legacy-1", "courses": [{"id": 7, "name": "Music"}], "schedule_entries": []}))
        assert sync.scan() == 1
        last = decode(AgentSnapshots, OutboxRows(store).peek()[-1].payload).snapshots
        assert [(s.agent_id, s.kind.value, s.version) for s in last] == [("legacy-1", "classtop", 2)]
