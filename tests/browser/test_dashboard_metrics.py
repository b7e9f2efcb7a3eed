"""The dashboard's agent metric charts (issue 12: "open an agent's charts") in a real headless Chromium against the
local twin: a real agent samples its CPU, memory, disks and network counters, the real LMS stores the samples, rolls
a closed hour up into 5-minute buckets (``MetricRollupSync``) and sends them through its outbox and the IoT
stand-in to the cloud's ``site_metrics`` rule; the page reads ``GET /api/agents/{id}/metrics?range=hour|day|week``
and draws uPlot charts: CPU, memory, the fullest disk and the network's receive / transmit rates, every label in
the chosen language.

A site sends an hour only once it has closed. Not to wait an hour, the LMS and the agent start with their wall
clocks set back into the previous hour (the twin's ``clock_shift``: infra/local/clock_shift); the agent's clock
is stepped through the hour so that its samples fill every 5-minute bucket, then both clocks are set right and
the LMS sends the hour that has just closed for it. Nothing is written around the LMS or the cloud.

Screenshots: docs/screenshots/dashboard-agent-metrics-<lang>[-dark].png.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from infra.local.twin import Twin
from infra.local.twin_options import TwinOptions, TwinPorts
from tests.browser.browser import WebSite, chromium, wait, web_site
from tests.browser.test_dashboard import sign_in

#: the twin's setup fills an hour of 5-minute buckets with samples 15 s apart (about 3 minutes)
pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WEB = Path(__file__).resolve().parents[2] / "web"
AGENT = "room-101"
HOUR_S = 3600
BUCKET_S = 300
CHARTS = ("chart-cpu", "chart-mem", "chart-disk", "chart-net")
#: a network rate as the page writes it: a number and a unit that scales
RATE = re.compile(r"^\d[\d.,]* (B|KB|MB|GB)/s$")


def api(twin: Twin, path: str, token: str) -> tuple[int, Any]:
    request = urllib.request.Request(twin.api_url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def until(what: str, check: Any, timeout: float, shown: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(1.0)
    raise AssertionError(f"timed out waiting for {what}" + (f": {shown()}" if shown else ""))


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
    """The agent's page, its "Metrics" tab (clicked again if the page was drawn anew meanwhile: a change of
    language redraws the whole app, and the page opens on its first tab)."""
    driver.execute_script("window.location.hash = arguments[0]", f"#/agents/{AGENT}")

    def shown(d: WebDriver) -> bool:
        if d.find_elements(By.CSS_SELECTOR, "#metrics-range button"):
            return True
        try:
            tab = d.find_elements(By.ID, "tab-metrics")
            if tab and tab[0].is_displayed():
                tab[0].click()
        except StaleElementReferenceException:  # redrawn between finding and clicking: the next round
            pass
        return False

    wait(driver, 30).until(shown)


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


def filled(chart: str) -> Callable[[WebDriver], bool]:
    """Whether ``chart`` has data: positions with a value (not the gaps' nulls)."""
    return lambda d: int(d.find_element(By.ID, chart).get_attribute("data-filled") or 0) > 0


def test_an_agents_charts_show_the_hour_the_lms_rolled_up(site: WebSite, twin: Twin, browser: WebDriver) -> None:
    sign_in(browser, site, twin.admin_token)
    open_charts(browser)
    assert choose(browser, "day") == HOUR_S // 900  # the 12 5-minute buckets, merged 3 by 3
    # every chart has data: positions with a value (not the gaps' nulls), disk and network included
    for chart in CHARTS:
        wait(browser).until(filled(chart))
        assert browser.execute_script(f"return document.querySelector('#{chart} canvas').width") > 200
    # the points the page drew carry the agent's disk (its fullest mount) and its network rates, real ones
    status, day = api(twin, f"/api/agents/{AGENT}/metrics?range=day", twin.admin_token)
    assert status == 200
    points = day["data"]["points"]
    assert all(0 < p["disk_max"] <= 100 and p["disk_min"] <= p["disk_avg"] <= p["disk_max"] for p in points), points
    assert all(p["net_rx_max"] is not None and p["net_tx_max"] is not None for p in points), points
    assert any(p["net_rx_max"] > 0 for p in points), points  # the agent's own MQTT traffic at least
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


def legend(driver: WebDriver, chart: str) -> dict[str, str]:
    """A chart's legend: label -> the value it shows at the cursor."""
    found: dict[str, str] = {}
    for row in driver.find_elements(By.CSS_SELECTOR, f"#{chart} .u-legend tr"):
        cells = row.find_elements(By.CSS_SELECTOR, "th, td")
        if len(cells) >= 2:
            found[cells[0].text.strip()] = cells[-1].text.strip()
    return found


def hover_a_point(driver: WebDriver, chart: str) -> dict[str, str]:
    """Move the mouse over the chart from its right edge leftwards until the legend shows a value (the rolled-up
    hour is near the right end of the day); -> the legend there."""
    over = driver.find_element(By.CSS_SELECTOR, f"#{chart} .u-over")
    width = over.size["width"]
    for dx in range(width // 2 - 2, -width // 2, -2):
        ActionChains(driver).move_to_element_with_offset(over, dx, 0).perform()
        shown = legend(driver, chart)
        if any(value not in ("", "—", "--") for label, value in shown.items() if label not in ("Time", "时间")):
            return shown
    raise AssertionError(f"no point found under the mouse in #{chart}: {legend(driver, chart)}")


def test_every_label_follows_the_language_switch(site: WebSite, twin: Twin, browser: WebDriver) -> None:
    """Issue 12: uPlot's own "Time" (the legend's first column) and its am/pm axis were English in zh-CN. Switched
    to zh-CN on the open page, each chart's legend is Chinese (time column, series) and its values read in the
    language; network rates carry a unit that scales."""
    browser.get(site.url + "/dashboard/")
    browser.execute_script("localStorage.setItem('ct.lang', 'en'); sessionStorage.clear()")
    sign_in(browser, site, twin.admin_token)
    open_charts(browser)
    assert choose(browser, "day") > 0
    wait(browser).until(lambda d: "Time" in legend(d, "chart-net") and "In average" in legend(d, "chart-net"))
    shown = hover_a_point(browser, "chart-net")
    assert RATE.match(shown["In average"]) and RATE.match(shown["Out peak"]), shown
    assert re.search(r"\d", shown["Time"]), shown
    Select(browser.find_element(By.ID, "lang-select")).select_by_value("zh-CN")
    wait(browser).until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN")
    open_charts(browser)  # the app is drawn anew in the new language, on the agent's first tab
    assert choose(browser, "day") > 0
    expected = {
        "chart-cpu": {"时间", "CPU 最低", "CPU 平均", "CPU 峰值"},
        "chart-mem": {"时间", "内存最低", "内存平均", "内存峰值"},
        "chart-disk": {"时间", "磁盘最低", "磁盘平均", "磁盘峰值"},
        "chart-net": {"时间", "接收平均", "接收峰值", "发送平均", "发送峰值"},
    }
    for chart, labels in expected.items():
        until(
            f"the legend of #{chart} in Chinese",
            lambda c=chart, want=labels: set(legend(browser, c)) == want,
            15,
            lambda c=chart: legend(browser, c),
        )
        assert "Time" not in browser.find_element(By.ID, chart).text, legend(browser, chart)
    titles = [browser.find_element(By.CSS_SELECTOR, f"#{c} figcaption").text for c in CHARTS]
    zh = json.loads((WEB / "dashboard" / "messages" / "zh-CN.json").read_text(encoding="utf-8"))
    assert titles == [zh[f"metrics.{k}"] for k in ("cpu", "mem", "disk", "net")], titles
    shown = hover_a_point(browser, "chart-net")
    assert RATE.match(shown["接收平均"]) and RATE.match(shown["发送峰值"]), shown
    assert re.search(r"\d", shown["时间"]) and not re.search(r"(?i)\b(am|pm)\b", shown["时间"]), shown
    assert "指标" in browser.find_element(By.ID, "metrics").text


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
        for chart in CHARTS:
            wait(browser).until(filled(chart))
        browser.execute_script("document.getElementById('metrics').scrollIntoView()")
        browser.save_screenshot(str(SCREENSHOTS / f"dashboard-agent-metrics-{lang}{'-dark' if dark else ''}.png"))
