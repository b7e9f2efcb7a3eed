"""The dashboard's sites page judges each site's link by that site's own ``stale_after_s`` (docs/dashboard.md: 2.5 of
the full heartbeat period its LMS states, never under the cloud's figure), in a real headless Chromium against the
local twin's cloud API (served on the page's origin through ``web_site``).

The sites' heartbeats go through the real intake: published on each site's up topic on the IoT Core stand-in, where
the twin's rules engine hands them to the ``site_heartbeat`` function, which stores them in moto's DynamoDB. They are
stamped in the past (a heartbeat's ``timestamp`` is when the LMS sent it), so the sites are that old when the page
looks. The publisher is a privileged client of the stand-in (as inside IoT Core): three LMSs without three
enrolments.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from infra.local.twin import Twin
from shared import topics
from shared.messages.site import SiteHeartbeat
from shared.mqtt import MqttClient
from shared.names import Namespace
from tests.browser.browser import WebSite, chromium, wait, web_site
from tests.browser.test_dashboard import allow_dashboard_origin, api, errors_thrown, rows, sign_in
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.browser

#: how old the sites' last heartbeats are when the page looks: past the silence allowed a site stating a 60 s period
#: (or none: the cloud's 150 s), well inside that of one stating 600 s (1500 s)
AGE_S = 400.0
#: site -> the full heartbeat period its LMS states (None: an older LMS, which states none)
PERIODS: dict[str, float | None] = {"school-60": 60.0, "school-600": 600.0, "school-old": None}


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with running_twin("ct-dash-sites-", agent_ids=("room-201",)) as twin:
        yield twin


@pytest.fixture(scope="module")
def site(twin: Twin) -> Iterator[WebSite]:
    with web_site(twin.api_url, {twin.admin_token: {"name": "local-admin", "role": "admin", "sites": None}}) as web:
        allow_dashboard_origin(twin, web.url)
        yield web


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def listed(twin: Twin) -> dict[str, dict[str, Any]]:
    status, body = api(twin, "GET", "/api/lms?limit=500", twin.admin_token)
    assert status == 200, body
    return {s["site_id"]: s for s in body["data"]["sites"]}


def test_each_site_is_judged_stale_by_the_period_its_lms_states(twin: Twin, site: WebSite, browser: WebDriver) -> None:
    """Two sites silent for the same 400 s: the one whose LMS states a 60 s period shows its link down, the one
    stating 600 s shows it up; a site whose LMS states none is judged by the cloud's 150 s (down). No one threshold
    gives both of the first two."""
    sent_at = time.time() - AGE_S
    namespace = Namespace(twin.opt.tenant, twin.opt.stage)
    publisher = MqttClient(twin.iot_core_client("dashboard-sites"), name="dashboard-sites")
    publisher.start(wait_s=10.0)
    try:
        for site_id, period in PERIODS.items():
            heartbeat = SiteHeartbeat(timestamp=sent_at, lms_version="2.0.0", full_period_s=period)
            publisher.publish(topics.site_up_plain(namespace, site_id, topics.SiteUp.HEARTBEAT), heartbeat, qos=1)
        wait(browser, 30).until(lambda _: set(PERIODS) <= set(listed(twin)))
    finally:
        publisher.stop()
    stored = listed(twin)
    assert {s: (stored[s]["full_period_s"], stored[s]["stale_after_s"]) for s in PERIODS} == {
        "school-60": (60.0, 150.0), "school-600": (600.0, 1500.0), "school-old": (None, 150.0),
    }  # fmt: skip
    assert all(stored[s]["last_heartbeat"] == pytest.approx(sent_at) for s in PERIODS)

    sign_in(browser, site, twin.admin_token)
    browser.execute_script("localStorage.setItem('ct.lang', 'en')")
    browser.execute_script("window.location.hash = '#/sites'")
    browser.refresh()  # a fresh document on the sites page, in English
    wait(browser).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == "sites")
    wait(browser, 30).until(lambda d: set(PERIODS) | {twin.opt.site_id} <= set(rows(d, "sites-table")))
    shown = rows(browser, "sites-table")
    assert "link down" in shown["school-60"], shown
    assert "link up" in shown["school-600"], shown
    assert "link down" in shown["school-old"], shown
    assert "link up" in shown[twin.opt.site_id], shown  # the twin's own LMS, heartbeating now
    assert not errors_thrown(browser)
