"""The LMS's site heartbeats to the cloud (``edge/lms/cloud/site_heartbeats.py``): a full heartbeat at once, then
every ``site_heartbeat_s`` (300 s as the LMS ships); agents' changes at once in changed-only heartbeats, whatever the
full period; every heartbeat states the full period in force (``full_period_s``), by which the cloud judges the
site's silence."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from edge.lms.agents import AgentView
from edge.lms.cloud.site_heartbeats import SiteHeartbeats, build_heartbeats, presence_of
from edge.lms.config.lms_config import LmsConfig
from shared.messages import Presence, SiteHeartbeat, decode
from shared.names import Namespace

WAIT_S = 10.0  # how long a test waits for a heartbeat it expects (it comes in well under a second)


def view(agent_id: str, status: Presence = Presence.ONLINE) -> AgentView:
    return AgentView(agent_id=agent_id, name=agent_id, kind="agent", status=status, last_seen=1.0, first_seen=1.0,
                     hostname=agent_id, version="1.0", ip_address=None, status_reason=None, status_changed_at=None,
                     settings=None)  # fmt: skip


class Link:
    """The cloud link as the sender sees it: every publish accepted at once, each heartbeat kept."""

    def __init__(self) -> None:
        self.connected = True
        self.beats: list[SiteHeartbeat] = []
        self._cond = threading.Condition()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> Future[None]:
        with self._cond:
            self.beats.append(decode(SiteHeartbeat, payload))
            self._cond.notify_all()
        future: Future[None] = Future()
        future.set_result(None)
        return future

    def wait_for(self, count: int) -> list[SiteHeartbeat]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.beats) >= count, WAIT_S), self.beats
            return list(self.beats)


class Registry:
    def __init__(self, *views: AgentView) -> None:
        self.views = list(views)

    def agents(self) -> list[AgentView]:
        return list(self.views)


def sender(link: Link, registry: Registry, period_s: float) -> SiteHeartbeats:
    return SiteHeartbeats(link, registry, namespace=Namespace("t", "dev"), site_id="s1",  # type: ignore[arg-type]
                          period_s=period_s, lms_version="1.0")  # fmt: skip


@pytest.fixture
def shipped() -> float:
    period = float(LmsConfig.model_fields["site_heartbeat_s"].default)
    assert period == 300.0
    return period


def test_a_full_heartbeat_at_once_then_changes_at_once_each_stating_the_period(shipped: float) -> None:
    link, registry = Link(), Registry(view("pc-1"), view("pc-2"))
    beats = sender(link, registry, shipped)
    beats.start()
    try:
        [first] = link.wait_for(1)
        assert first.full and [a.agent_id for a in first.agents] == ["pc-1", "pc-2"]
        assert first.full_period_s == shipped
        beats.on_presence(view("pc-2", Presence.OFFLINE))  # an agent's change does not wait for the next full one
        _, changed = link.wait_for(2)
        assert not changed.full and [(a.agent_id, a.status) for a in changed.agents] == [("pc-2", Presence.OFFLINE)]
        assert changed.full_period_s == shipped
    finally:
        beats.stop()


def test_a_new_period_sends_a_full_heartbeat_stating_it(shipped: float) -> None:
    link = Link()
    beats = sender(link, Registry(view("pc-1")), shipped)
    beats.start()
    try:
        link.wait_for(1)
        beats.reconfigure(60.0)
        second = link.wait_for(2)[1]
        assert second.full and second.full_period_s == 60.0
        beats.on_presence(view("pc-1", Presence.OFFLINE))
        assert link.wait_for(3)[2].full_period_s == 60.0
    finally:
        beats.stop()


def test_full_heartbeats_repeat_every_period() -> None:
    """At the shortest period the schedule shows in a test's time: full ones keep coming with no change at all."""
    link = Link()
    beats = sender(link, Registry(view("pc-1")), 1.0)
    beats.start()
    try:
        assert [(b.full, b.full_period_s) for b in link.wait_for(3)[:3]] == [(True, 1.0)] * 3
    finally:
        beats.stop()


def test_every_part_of_a_split_heartbeat_states_the_period() -> None:
    agents = [presence_of(view(f"pc-{i:04d}")) for i in range(3000)]
    parts = [decode(SiteHeartbeat, p) for p in build_heartbeats(agents, full=True, lms_version="1.0", period_s=300.0)]
    assert len(parts) > 1 and all(not p.full and p.full_period_s == 300.0 for p in parts)
    assert sum(len(p.agents) for p in parts) == len(agents)


@pytest.mark.parametrize("period", [0.5, 601.0, 3600.0])
def test_the_lms_refuses_a_period_the_cloud_would_refuse(period: float) -> None:
    with pytest.raises(ValueError, match="site_heartbeat_s"):
        LmsConfig(tenant="t", site_id="s1", site_heartbeat_s=period)


def test_a_heartbeat_of_an_older_lms_states_no_period() -> None:
    """An LMS before this field sends none: the message still validates, and the cloud keeps its own figure."""
    old = b'{"type": "site_heartbeat", "v": 1, "timestamp": 1.0, "lms_version": "0.9", "full": true, "agents": []}'
    assert decode(SiteHeartbeat, old).full_period_s is None
