"""The dashboard's agent metric charts (issue 12: "open an agent's charts") in a real headless Chromium against the
local twin: a real agent samples its CPU and memory, the real LMS stores the samples, rolls a closed hour up into
5-minute buckets (``MetricRollupSync``) and sends them through its outbox and the IoT stand-in to the cloud's
``site_metrics`` rule; the page reads ``GET /api/agents/{id}/metrics?range=hour|day|week`` and draws uPlot charts.

A site sends an hour only once it has closed. Not to wait an hour, the LMS and the agent start with their wall
clocks set back into the previous hour (the twin's ``clock_shift``: infra/local/clock_shift); the agent's clock
is stepped through the hour so that its samples fill every 5-minute bucket, then both clocks are set right and
the LMS sends the hour that has just closed for it. Nothing is written around the LMS or the cloud.

Screenshots: docs/screenshots/dashboard-agent-metrics-<lang>[-dark].png.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from infra.local.twin import Twin
from infra.local.twin_options import TwinOptions, TwinPorts
from tests.browser.browser import WebSite, chromium, wait, web_site
from tests.browser.test_dashboard import sign_in

#: the twin's setup fills an hour of 5-minute buckets with samples 15 s apart (about 3 minutes)
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AGENT = "room-101"
HOUR_S = 3600
BUCKET_S = 300


def api(twin: Twin, path: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(twin.api_url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}")


def lms_samples(twin: Twin, since: float, end: float) -> int:
    body = twin.lms_api(f"/api/clients/{AGENT}/metrics?since={since}&until={end - 0.001}", twin.lms_token)
    return len(body["data"]["samples"])


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    previous = int(time.time()) // HOUR_S * HOUR_S - HOUR_S  # the hour the samples fill
    workdir = Path(tempfile.mkdtemp(prefix="ct-charts-"))
    twin = Twin(workdir, TwinOptions(ports=TwinPorts.free(), agent_ids=(AGENT,), clock_shift=True))
    for part in ("lms", AGENT):  # both start in the previous hour: its first pass rolls up nothing older
        twin.shift_clock(part, previous + 5 - time.time())
    twin.start()
    try:
        for bucket in range(previous, previous + HOUR_S, BUCKET_S):
            for part in ("lms", AGENT):
                twin.shift_clock(part, bucket + 5 - time.time())
            until(
                f"a sample of {AGENT} in the bucket at {bucket}",
                lambda b=bucket: lms_samples(twin, b, b + BUCKET_S) > 0,
                60,
            )
        for part in ("lms", AGENT):
            twin.shift_clock(part, 0.0)
        twin.wait_cloud_sees_agents()

        def stored() -> bool:
            status, body = api(twin, f"/api/agents/{AGENT}/metrics?range=day", twin.admin_token)
            assert status == 200, body
            return len(body["data"]["points"]) >= HOUR_S // 900

        until("the cloud to store the LMS's rollups of the hour", stored, 120)
        yield twin
    finally:
        twin.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def other_operator(twin: Twin) -> str:
    body = json.dumps({"name": "charts other-operator", "role": "operator", "site_ids": ["school-2"]}).encode()
    request = urllib.request.Request(
        twin.api_url + "/api/tokens",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {twin.admin_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        token: str = json.loads(answer.read())["data"]["token"]
    return token


@pytest.fixture(scope="module")
def site(twin: Twin, other_operator: str) -> Iterator[WebSite]:
    identities: dict[str, dict[str, Any]] = {
        twin.admin_token: {"name": "local-admin", "role": "admin", "sites": None},
        other_operator: {"name": "charts other-operator", "role": "operator", "sites": ["school-2"]},
    }
    with web_site(twin.api_url, identities) as web:
        yield web


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def open_charts(driver: WebDriver) -> None:
    driver.execute_script("window.location.hash = arguments[0]", f"#/agents/{AGENT}")
    wait(driver).until(ec.element_to_be_clickable((By.ID, "tab-metrics"))).click()


def choose(driver: WebDriver, range_: str) -> int:
    """Pick a range; -> how many points the page drew once its answer arrived."""
    driver.find_element(By.CSS_SELECTOR, f'#metrics-range button[data-range="{range_}"]').click()
    wait(driver, 30).until(
        lambda d: (
            d.find_element(By.ID, "metrics").get_attribute("data-range") == range_
            and d.find_element(By.ID, "metrics").get_attribute("data-points") not in ("", None)
        )
    )
    return int(driver.find_element(By.ID, "metrics").get_attribute("data-points") or 0)


def test_an_agents_charts_show_the_hour_the_lms_rolled_up(site: WebSite, twin: Twin, browser: WebDriver) -> None:
    sign_in(browser, site, twin.admin_token)
    open_charts(browser)
    assert choose(browser, "day") == HOUR_S // 900  # the 12 5-minute buckets, merged 3 by 3
    for chart in ("chart-cpu", "chart-mem"):
        wait(browser).until(lambda d, c=chart: d.find_element(By.ID, c).get_attribute("data-points") != "0")
        assert browser.execute_script(f"return document.querySelector('#{chart} canvas').width") > 200
    assert choose(browser, "week") == 1  # one hourly point
    # the hour: the 5-minute buckets still inside its window (none once the clock is 55 minutes past the hour)
    hour = choose(browser, "hour")
    status, body = api(twin, f"/api/agents/{AGENT}/metrics?range=hour", twin.admin_token)
    assert status == 200 and hour <= HOUR_S // BUCKET_S
    if browser.find_element(By.ID, "metrics").get_attribute("data-until") == str(body["data"]["until"]):
        assert hour == len(body["data"]["points"])  # the same window (it moves every 5 minutes)
    note = browser.find_element(By.ID, "metrics-note").text
    assert str(hour) in note and "5-minute" in note
    # the legend reads the series it draws: CPU low/average/peak of the buckets
    assert "CPU average" in browser.find_element(By.ID, "chart-cpu").text


def test_another_sites_operator_sees_no_charts(
    site: WebSite, twin: Twin, other_operator: str, browser: WebDriver
) -> None:
    status, body = api(twin, f"/api/agents/{AGENT}/metrics?range=day", other_operator)
    assert status == 404 and "points" not in json.dumps(body)
    sign_in(browser, site, other_operator)
    open_charts(browser)
    refused = wait(browser, 30).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#metrics .errorbox")))
    assert AGENT in refused.text
    assert browser.find_element(By.ID, "metrics").get_attribute("data-points") in ("", None)
    assert not browser.find_elements(By.ID, "agent-facts")


def test_screenshots_of_the_charts(site: WebSite, twin: Twin, browser: WebDriver) -> None:
    """docs/screenshots/dashboard-agent-metrics-<lang>[-dark].png: the hour range while it still holds most of the
    rolled-up hour, else the day (which holds all of it)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    status, body = api(twin, f"/api/agents/{AGENT}/metrics?range=hour", twin.admin_token)
    shown = "hour" if status == 200 and len(body["data"]["points"]) >= 6 else "day"
    browser.get(site.url + "/dashboard/")
    for lang, dark in (("en", False), ("zh-CN", False), ("en", True), ("zh-CN", True)):
        browser.execute_script(
            "localStorage.setItem('ct.lang', arguments[0]);"
            "localStorage.setItem('ct.theme', arguments[1]); sessionStorage.clear()",
            lang,
            "dark" if dark else "light",
        )
        sign_in(browser, site, twin.admin_token)
        open_charts(browser)
        assert choose(browser, shown) > 0
        wait(browser).until(lambda d: d.find_element(By.ID, "chart-cpu").get_attribute("data-points") != "0")
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(SCREENSHOTS / f"dashboard-agent-metrics-{lang}{'-dark' if dark else ''}.png"))
