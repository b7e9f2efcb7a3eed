"""A site's stored heartbeat stamp (``last_heartbeat``) is written at a coarser grain than the heartbeats arrive
(``site_touch_interval_s``; docs/data-model.md#cloud-cost), never so coarse that admins see less: with the LMS's
default full heartbeat period every full heartbeat refreshes it (an LMS clock a few milliseconds slow included), a
heartbeat after IoT Core said the link went down shows the link up at once, and a site whose heartbeats stop is shown
down within its stale period of its last one (``site_stale_s``, or 2.5 of the period its LMS states when longer:
tests/unit/cloud/test_cloud_site_staleness.py; sooner when IoT Core says its link went down)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_cloud_site_link import lifecycle

from chalicelib.handlers.alert_schedules import evaluate_alerts
from edge.lms.config.lms_config import LmsConfig
from tests.unit.cloud.cloud_testkit import SETTINGS, Cloud, online, running_cloud

#: the LMS's full heartbeat period, as it ships
PERIOD_S = float(LmsConfig.model_fields["site_heartbeat_s"].default)
#: an LMS whose clock runs a little slow (NTP slewing) stamps its heartbeats this much less than the period apart
SLEW_S = 0.05
FLEET = [online("pc-1"), online("pc-2")]


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with running_cloud() as running:
        running.heartbeat("s1", FLEET)
        yield running


def _stamp(cloud: Cloud) -> float:
    return float(cloud.get("/api/lms/s1").json_body["data"]["last_heartbeat"])


def _link(cloud: Cloud) -> dict[str, Any]:
    return dict(cloud.get("/api/agents/pc-1").json_body["data"]["presence"]["hops"]["link"])


def test_the_lms_sends_a_full_heartbeat_every_five_minutes() -> None:
    assert PERIOD_S == 300.0


def test_every_full_heartbeat_at_the_lms_period_refreshes_the_stamp(cloud: Cloud) -> None:
    for _ in range(6):
        cloud.clock.advance(PERIOD_S - SLEW_S)
        assert cloud.heartbeat("s1", FLEET, period_s=PERIOD_S)["site_written"] is True
        assert _stamp(cloud) == cloud.clock.now
        assert _link(cloud)["state"] == "up"


def test_heartbeats_every_30_s_refresh_it_every_other_one(cloud: Cloud) -> None:
    """A site configured at 60 s (the older default) gets every full heartbeat stored; at 30 s every other one."""
    written = []
    for _ in range(6):
        cloud.clock.advance(30 - SLEW_S)
        written.append(cloud.heartbeat("s1", FLEET)["site_written"])
    assert written == [False, True] * 3


def test_a_heartbeat_after_the_link_went_down_shows_it_up_at_once(cloud: Cloud) -> None:
    """IoT Core's ``connected`` event of the new connection may come late (or not at all): the heartbeat itself
    says the link is up, whatever the stamp's grain."""
    cloud.clock.advance(5)
    lifecycle(cloud, "disconnected", at_s=cloud.clock.now, reason="CONNECTION_LOST")
    assert _link(cloud)["state"] == "down"
    cloud.clock.advance(5)  # well within the touch interval of the stored stamp
    assert cloud.heartbeat("s1", FLEET)["site_written"] is True
    link = _link(cloud)
    assert (link["state"], link["reason"], link["last_seen"]) == ("up", "heartbeat", cloud.clock.now)
    # and the next heartbeats are back to the usual grain
    cloud.clock.advance(5)
    assert cloud.heartbeat("s1", FLEET)["site_written"] is False


@pytest.mark.parametrize("period", [None, PERIOD_S])  # an older LMS (60 s, states none), one of this release
def test_a_silent_site_is_shown_down_within_the_stale_period_and_a_lost_heartbeat_is_no_outage(
    cloud: Cloud, period: float | None
) -> None:
    every = period or 60.0
    stale = max(SETTINGS.site_stale_s, 2.5 * every)
    cloud.clock.advance(every)
    cloud.heartbeat("s1", FLEET, period_s=period)
    last = cloud.clock.now
    # one heartbeat lost, and the next one late: nothing shown down, on the overview either
    cloud.clock.advance(2 * every + 10)
    assert _link(cloud)["state"] == "up"
    assert cloud.get("/api/overview").json_body["data"]["totals"]["sites_down"] == 0
    # then none: down (missed heartbeats) once the stale period has passed since the last one, not before
    cloud.clock.now = last + stale - 1
    assert _link(cloud)["state"] == "up"
    evaluate_alerts({})  # the minute's pass: the overview's silence from the clock (data-model.md#the-overview-summary)
    cloud.clock.now = last + stale + 1
    assert (_link(cloud)["state"], _link(cloud)["reason"]) == ("down", "missed_heartbeats")
    assert cloud.get("/api/overview").json_body["data"]["down"] == ["s1"]


def test_the_overview_shows_a_site_down_as_soon_as_iot_core_says_its_link_went_down(cloud: Cloud) -> None:
    """Not a stale period later: the overview's rows follow presence per hop (its heartbeat rule is 150 s)."""
    row = cloud.get("/api/overview").json_body["data"]["sites"][0]
    assert (row["reporting"], row["link_up"], row["lms_up"]) == (True, True, True)
    cloud.clock.advance(5)
    lifecycle(cloud, "disconnected", at_s=cloud.clock.now, reason="MQTT_KEEP_ALIVE_TIMEOUT")
    overview = cloud.get("/api/overview").json_body["data"]
    assert overview["down"] == ["s1"] and overview["totals"]["sites_down"] == 1
    # the link is down; whether the LMS behind it runs is unknown
    assert (overview["sites"][0]["link_up"], overview["sites"][0]["lms_up"]) == (False, None)
    cloud.clock.advance(5)
    cloud.heartbeat("s1", FLEET)
    assert cloud.get("/api/overview").json_body["data"]["down"] == []
