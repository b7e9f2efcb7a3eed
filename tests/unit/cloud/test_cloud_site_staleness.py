"""A site's silence judged by the full heartbeat period its LMS states (``SiteHeartbeat.full_period_s``; docs/
architecture.md#presence): the cloud stores the period on the site and shows a connected but silent site down 2.5
periods after its stored heartbeat, never sooner than its own figure (150 s on the overview and ``/api/stats``,
``CLASSTOP_SITE_STALE_S`` for presence per hop and the alerts), which is all an older LMS that states none gets. A
site cannot state a period past the message's bound, nor for another site."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.domain.site import STALE_AFTER_S, STALE_PERIODS, Site
from chalicelib.handlers.alert_schedules import evaluate_alerts
from edge.lms.config.lms_config import LmsConfig
from shared.messages.checks import FULL_PERIOD_MAX_S
from tests.unit.cloud.cloud_testkit import SETTINGS, Cloud, online, running_cloud

#: the LMS's full heartbeat period as it ships
SHIPPED_S = float(LmsConfig.model_fields["site_heartbeat_s"].default)
FLEET = [online("pc-1")]


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        yield running


def _rows(cloud: Cloud) -> dict[str, dict[str, Any]]:
    return {r["site_id"]: r for r in cloud.get("/api/overview").json_body["data"]["sites"]}


def _listed(cloud: Cloud) -> dict[str, dict[str, Any]]:
    return {s["site_id"]: s for s in cloud.get("/api/lms").json_body["data"]["sites"]}


def _link(cloud: Cloud, agent_id: str) -> str:
    return str(cloud.get(f"/api/agents/{agent_id}").json_body["data"]["presence"]["hops"]["link"]["state"])


def test_the_shipped_period_is_judged_at_two_and_a_half_periods() -> None:
    assert SHIPPED_S == 300.0
    assert Site("s", 0.0, "1", full_period_s=SHIPPED_S).stale_after() == 750.0
    assert Site("s", 0.0, "1", full_period_s=SHIPPED_S).stale_after(SETTINGS.site_stale_s) == 750.0


@pytest.mark.parametrize(("period", "overview_s", "presence_s"), [
    (None, STALE_AFTER_S, SETTINGS.site_stale_s),  # an older LMS: today's figures
    (60.0, 150.0, SETTINGS.site_stale_s),  # a site configured at 60 s: as before
    (5.0, STALE_AFTER_S, SETTINGS.site_stale_s),  # never sooner than the cloud's figure
    (SHIPPED_S, 750.0, 750.0),
])  # fmt: skip
def test_each_site_is_judged_by_the_period_its_lms_states(
    cloud: Cloud, period: float | None, overview_s: float, presence_s: float
) -> None:
    cloud.heartbeat("s1", FLEET, period_s=period)
    last = cloud.clock.now
    assert _listed(cloud)["s1"]["full_period_s"] == period
    assert _listed(cloud)["s1"]["stale_after_s"] == overview_s == _rows(cloud)["s1"]["stale_after_s"]
    assert cloud.get("/api/stats/sites/s1").json_body["data"]["stale_after_s"] == overview_s
    for at, overview_up, presence_up in ((overview_s - 1, True, True), (overview_s + 1, False, presence_s > overview_s),
                                         (presence_s + 1, False, False)):  # fmt: skip
        cloud.clock.now = last + at - 59
        evaluate_alerts({})  # the minute's pass, under a minute before: the overview's silence from the clock
        cloud.clock.now = last + at
        row = _rows(cloud)["s1"]
        assert row["reporting"] is overview_up, at
        assert cloud.get("/api/stats/sites/s1").json_body["data"]["reporting"] is overview_up, at
        assert cloud.get("/api/stats").json_body["data"]["sites"]["reporting"] == int(overview_up), at
        assert (_link(cloud, "pc-1") == "up") is presence_up, at


def test_the_overview_judges_each_site_by_its_own_period(cloud: Cloud) -> None:
    """An older LMS and one of this release side by side: after 200 s of silence only the older one is down; the
    answer's ``stale_after_s`` stays the cloud's figure for an LMS that states no period."""
    cloud.heartbeat("old", [online("pc-old")])
    cloud.heartbeat("new", [online("pc-new")], period_s=SHIPPED_S)
    cloud.clock.advance(140)
    evaluate_alerts({})
    cloud.clock.advance(60)
    overview = cloud.get("/api/overview").json_body["data"]
    assert overview["stale_after_s"] == STALE_AFTER_S
    assert overview["down"] == ["old"] and overview["totals"]["sites_down"] == 1
    assert cloud.get("/api/stats").json_body["data"]["sites"] == {"total": 2, "reporting": 1, "stale": 1}
    # the LMS of this release beats again within its period: still up; the older one's next heartbeat brings it back
    cloud.heartbeat("new", [online("pc-new")], period_s=SHIPPED_S)
    cloud.heartbeat("old", [online("pc-old")])
    assert cloud.get("/api/overview").json_body["data"]["down"] == []


def test_a_period_change_is_stored_at_once_and_an_older_lms_clears_it(cloud: Cloud) -> None:
    cloud.heartbeat("s1", FLEET, period_s=SHIPPED_S)
    cloud.clock.advance(5)  # within the stamp's touch interval: only a change is written
    assert cloud.heartbeat("s1", FLEET, period_s=60.0)["site_written"] is True
    assert _listed(cloud)["s1"]["full_period_s"] == 60.0
    cloud.clock.advance(5)
    assert cloud.heartbeat("s1", FLEET, period_s=60.0)["site_written"] is False
    cloud.clock.advance(5)  # the LMS rolled back to a version that states no period: today's figure again
    assert cloud.heartbeat("s1", FLEET)["site_written"] is True
    assert _listed(cloud)["s1"]["full_period_s"] is None
    assert _listed(cloud)["s1"]["stale_after_s"] == STALE_AFTER_S


def test_a_changed_only_heartbeat_states_the_period_too(cloud: Cloud) -> None:
    cloud.heartbeat("s1", FLEET)
    cloud.clock.advance(5)
    cloud.heartbeat("s1", [online("pc-2")], full=False, period_s=SHIPPED_S)
    assert _listed(cloud)["s1"]["full_period_s"] == SHIPPED_S


@pytest.mark.parametrize("claim", [FULL_PERIOD_MAX_S + 1, 1e9, 0, 0.5, -60, "300", True])
def test_a_site_cannot_claim_a_period_past_the_bound(cloud: Cloud, claim: Any) -> None:
    """The attack: an LMS claims a huge period so that it never looks silent. The heartbeat is refused whole; the
    site keeps the period it had."""
    cloud.heartbeat("s1", FLEET, period_s=60.0)
    cloud.clock.advance(5)
    event = {"type": "site_heartbeat", "v": 1, "timestamp": cloud.clock.now, "lms_version": "1.0.0", "full": True,
             "agents": FLEET, "full_period_s": claim, "site_id": "s1"}  # fmt: skip
    outcome = cloud.invoke("site_heartbeat", event)
    assert outcome["ok"] is False and outcome["error"]["code"] == "bad_payload"
    assert _listed(cloud)["s1"]["full_period_s"] == 60.0


def test_the_longest_period_bounds_the_silence(cloud: Cloud) -> None:
    cloud.heartbeat("s1", FLEET, period_s=FULL_PERIOD_MAX_S)
    assert _listed(cloud)["s1"]["stale_after_s"] == STALE_PERIODS * FULL_PERIOD_MAX_S == 1500.0
    # a stored figure past the bound (an item written some other way) is bounded again when judged
    assert Site("s", 0.0, "1", full_period_s=1e12).stale_after() == 1500.0


def test_a_site_states_the_period_of_its_own_site_only(cloud: Cloud) -> None:
    """The site comes from the topic (IoT Core's policy lets an LMS publish on its own site's topics only): a
    heartbeat carries no site id of its own, so a period stated by one site sets nothing on another."""
    cloud.heartbeat("victim", [online("pc-v")])
    cloud.heartbeat("attacker", [online("pc-a")], period_s=FULL_PERIOD_MAX_S)
    listed = _listed(cloud)
    assert listed["victim"]["full_period_s"] is None and listed["attacker"]["full_period_s"] == FULL_PERIOD_MAX_S
    event = {"type": "site_heartbeat", "v": 1, "timestamp": cloud.clock.now, "lms_version": "1.0.0", "full": True,
             "agents": [], "full_period_s": 600.0, "site_id": "attacker", "site": "victim"}  # fmt: skip
    assert cloud.invoke("site_heartbeat", event)["ok"] is False  # no field names another site
    assert _listed(cloud)["victim"]["full_period_s"] is None


def test_the_sites_counts_follow_changed_only_heartbeats_at_once(cloud: Cloud) -> None:
    """With minutes between full heartbeats, the overview's and ``/api/stats``' counts of a site move with each
    changed-only heartbeat (an agent online, offline, new), not at the next full one; the full one sets them exactly."""
    cloud.heartbeat("s1", [online("pc-1"), online("pc-2")], period_s=SHIPPED_S)

    def counts() -> tuple[int, int]:
        agents = _rows(cloud)["s1"]["agents"]
        stats = cloud.get("/api/stats").json_body["data"]["agents"]
        assert (stats["total"], stats["online"]) == (agents["total"], agents["online"])
        return agents["total"], agents["online"]

    assert counts() == (2, 2)
    steps: list[tuple[list[dict[str, Any]], tuple[int, int]]] = [
        ([{"agent_id": "pc-2", "status": "offline"}], (2, 1)),
        ([online("pc-3")], (3, 2)),  # a new agent
        ([{"agent_id": "pc-4", "status": "offline"}], (4, 2)),
        ([online("pc-2")], (4, 3)),
        ([online("pc-2", hostname="renamed")], (4, 3)),  # written, but no presence change
        ([{"agent_id": "pc-1", "status": "offline"}, {"agent_id": "pc-3", "status": "offline"}], (4, 1)),
    ]
    for agents, want in steps:
        cloud.clock.advance(3)
        cloud.heartbeat("s1", agents, full=False, period_s=SHIPPED_S)
        assert counts() == want, agents
    cloud.clock.advance(3)  # a repeated change writes nothing, and moves nothing
    cloud.heartbeat("s1", [{"agent_id": "pc-1", "status": "offline"}], full=False, period_s=SHIPPED_S)
    assert counts() == (4, 1)
    cloud.clock.advance(SHIPPED_S)  # the full heartbeat's list is the truth
    cloud.heartbeat("s1", [online("pc-1"), online("pc-2")], period_s=SHIPPED_S)
    assert counts() == (2, 2)
