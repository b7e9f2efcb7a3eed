"""Agents' snapshots travel LMS -> cloud (``AgentSnapshots`` on ``up/sync``): a settings change on an agent is
sent once, a ClassTop timetable too, and after an LMS restart nothing unchanged is sent again."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared import topics
from shared.messages import AgentSnapshots, Event, StateData, StateUpdate, decode, encode
from shared.topics import AgentUp, SiteUp
from tests.fixtures.brokers import Broker, MqttProbe
from tests.integration.lms.lms_harness import SITE, TENANT, AgentFactory, LmsFactory, SimAgent, eventually

pytestmark = pytest.mark.integration

SYNC = topics.site_up(TENANT, SITE, SiteUp.SYNC)
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
    cloud = cloud_broker.client()
    cloud.subscribe(SYNC)
    lms = lms_factory(cloud_broker.port).start()
    a1 = agents("agent-1").start()
    a2 = agents("agent-2").start()
    lms.wait_agent("agent-1")
    lms.wait_agent("agent-2")

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
