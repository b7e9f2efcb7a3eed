"""A site's cloud link cut on the local twin (the IoT Core stand-in running, the relay between it and the LMS cut):
IoT Core's lifecycle event tells the cloud why the link is down — ``link_lost``, not missed heartbeats — before the
heartbeats could (issue 15, presence per hop)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.twin import Twin
from tests.fixtures.twin_calls import cloud, eventually, lms
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.e2e

AGENTS = ("pc-lc1",)


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    """The LMS reaches the stand-in through a relay the test cuts; the cloud's heartbeat clock is the production
    one (a site stale after 180 s), so a link shown down within the test comes from the lifecycle event."""
    with running_twin("ct-lifecycle-link-", agent_ids=AGENTS, site_heartbeat_s=2.0, cloud_link_proxy=True) as started:
        yield started


def test_a_cut_link_says_link_lost_from_the_lifecycle_event(twin: Twin) -> None:
    proxy = twin.link_proxy
    assert proxy is not None
    eventually(lambda: lms(twin, "GET", "/api/health")["cloud"]["connected"], 60, "the LMS linked")

    def link() -> dict[str, Any]:
        status, body = cloud(twin, "GET", f"/api/agents/{AGENTS[0]}")
        assert status == 200, body
        return dict(body["data"]["presence"]["hops"]["link"])

    eventually(lambda: link()["state"] == "up", 30, "the link up in the cloud")
    proxy.cut()  # the site's uplink gone; IoT Core (the stand-in) sees the connection drop
    try:
        hop = eventually(lambda: (h := link())["state"] == "down" and h, 30, "the link down in the cloud")
        assert hop["reason"] == "link_lost", hop  # from the lifecycle event, not "missed_heartbeats"
        _status, body = cloud(twin, "GET", f"/api/agents/{AGENTS[0]}")
        assert body["data"]["presence"]["shown"].startswith("unknown — site unreachable since")
    finally:
        proxy.restore()
    eventually(lambda: link()["state"] == "up", 60, "the link up again")
