"""The district dashboard (web/dashboard) in a real headless Chromium against the local twin: its real cloud API
(served on the page's origin through ``web_site``), a real LMS and real agents.

Sign-in uses the "advanced: API token" field: accounts (Cognito) come with the auth routes of issue 12's cloud
half; until then ``web_site`` answers ``GET /api/me`` for the tokens made here (the API's own answer wins).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from infra.local.twin import Twin
from tests.browser.browser import WebSite, chromium, wait, web_site
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SITE = "school-1"
COURSES = [
    {"id": 1, "name": "Mathematics", "teacher": "Li", "location": "101", "color": "#1f77b4"},
    {"id": 2, "name": "Chinese", "teacher": "Wang", "location": "101", "color": "#d62728"},
    {"id": 3, "name": "English", "teacher": "Smith", "location": "Lab", "color": "#2ca02c"},
]
CAMERA = {"name": "Front door", "source": "synthetic:moving", "fps": 10, "width": 160, "height": 120, "segment_s": 10}
SCHEDULE = [
    {"id": i, "course_id": c, "day_of_week": d, "start_time": s, "end_time": e, "weeks": []}
    for i, (c, d, s, e) in enumerate([
        (1, 1, "08:00", "08:45"), (2, 1, "09:00", "09:45"), (3, 2, "08:00", "08:45"), (1, 3, "10:00", "10:45"),
        (2, 4, "08:00", "08:45"), (3, 5, "14:00", "14:45"), (1, 5, "08:00", "08:45"),
    ], start=1)
]


def api(twin: Twin, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(twin.api_url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with running_twin("ct-dashboard-", agent_ids=("room-101", "room-102"), camera_agents=("room-101",)) as twin:
        twin.wait_cloud_sees_agents()
        status, body = api(twin, "PUT", "/api/cctv/agents/room-101/cameras/door", twin.admin_token, CAMERA)
        assert status in (200, 201), body
        for command, params in (("set_courses", {"courses": COURSES}), ("set_schedule", {"schedule_entries": SCHEDULE}),
                                ("get_info", {})):
            status, body = api(twin, "POST", "/api/commands?wait=20", twin.admin_token,
                               {"agent_id": "room-101", "command": command, "params": params})
            assert status in (200, 202) and body["success"], body
        yield twin


@pytest.fixture(scope="module")
def tokens(twin: Twin) -> dict[str, str]:
    """API tokens by role: admin (the twin's), viewer, and an operator of another site only."""
    made = {"admin": twin.admin_token}
    other_site = {"role": "operator", "site_ids": ["school-2"]}
    for name, body in (("viewer", {"role": "viewer"}), ("other-operator", other_site)):
        status, answer = api(twin, "POST", "/api/tokens", twin.admin_token, {"name": f"browser {name}", **body})
        assert status == 201 or status == 200, answer
        made[name] = answer["data"]["token"]
    return made


@pytest.fixture(scope="module")
def site(twin: Twin, tokens: dict[str, str]) -> Iterator[WebSite]:
    identities: dict[str, dict[str, Any]] = {
        tokens["admin"]: {"name": "local-admin", "role": "admin", "sites": None},
        tokens["viewer"]: {"name": "browser viewer", "role": "viewer", "sites": None},
        tokens["other-operator"]: {"name": "browser other-operator", "role": "operator", "sites": ["school-2"]},
    }
    with web_site(twin.api_url, identities) as web:
        allow_dashboard_origin(twin, web.url)
        yield web


def allow_dashboard_origin(twin: Twin, origin: str) -> None:
    """The overview bucket's CORS, as the template sets it for the distribution's domain, for this test site's
    origin (the page is served here, not by the twin's cloud server): GET with If-None-Match, nothing else."""
    status, body = api(twin, "GET", "/api/overview/feed", twin.admin_token)
    assert status == 200 and body["data"]["url"], body
    url = urllib.parse.urlsplit(body["data"]["url"])
    bucket = url.path.split("/")[1]
    s3 = boto3.client("s3", endpoint_url=f"{url.scheme}://{url.netloc}", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [twin.api_url, origin], "AllowedMethods": ["GET"], "AllowedHeaders": ["If-None-Match"],
        "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 900}]})


def object_polls(driver: WebDriver) -> list[str]:
    """The URLs the page fetched its overview object from (its resource timing entries)."""
    return list(driver.execute_script("return performance.getEntriesByType('resource').map((e) => e.name)"
                                      ".filter((n) => n.includes('/overview/v1/'))"))


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def sign_in(driver: WebDriver, site: WebSite, token: str) -> None:
    driver.get(site.url + "/dashboard/")
    wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "details.advanced summary"))).click()
    field = wait(driver).until(ec.visibility_of_element_located((By.ID, "token-signin-token")))
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-signin button[type=submit]").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "nav")))


def open_page(driver: WebDriver, hash_path: str) -> None:
    driver.execute_script("window.location.hash = arguments[0]", f"#/{hash_path}")
    wait(driver).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == hash_path.split("/")[0])


def rows(driver: WebDriver, table: str) -> dict[str, str]:
    """The rows of a data table by key -> their text (retried while the table redraws)."""

    for _ in range(20):
        try:
            found = driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr[data-key]")
            return {r.get_attribute("data-key") or "": r.text for r in found}
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"#{table} kept redrawing")


def open_tab(driver: WebDriver, key: str) -> None:
    wait(driver).until(ec.element_to_be_clickable((By.ID, f"tab-{key}"))).click()


def errors_thrown(driver: WebDriver) -> list[Any]:
    """What the page threw (refused requests are logged by Chromium as "network": not the page's fault)."""
    logs: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [e for e in logs if e.get("level") == "SEVERE" and e.get("source") != "network"]


def test_agents_come_online_without_reload(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    open_page(browser, "agents")
    Select(browser.find_element(By.ID, "poll-interval")).select_by_value("5")
    wait(browser).until(lambda d: {"room-101", "room-102"} <= set(rows(d, "agents-table")))
    assert "room-103" not in rows(browser, "agents-table")
    browser.execute_script("window.__sameDocument = true")
    twin.start_agent("room-103")
    wait(browser, 90).until(lambda d: "online" in rows(d, "agents-table").get("room-103", ""))
    assert browser.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    assert "Updated" in browser.find_element(By.ID, "conn-text").text
    assert not errors_thrown(browser)


def test_the_overview_updates_by_itself_from_its_object_in_s3(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    """The overview asks for the caller's presigned URL (GET /api/overview/feed) and polls the object in S3 with
    it (moto's S3 here), never the API: its numbers still change without a reload once the minute's pass rewrote the
    object, and the page says when its content last changed."""
    plain_before = [p for p in site.sent("GET", "/api/overview") if p.split("?")[0] == "/api/overview"]
    sign_in(browser, site, tokens["admin"])
    Select(browser.find_element(By.ID, "poll-interval")).select_by_value("5")
    open_page(browser, "overview")

    def online(driver: WebDriver) -> int | None:
        text = driver.find_element(By.CSS_SELECTOR, "#tile-online .tile-value").text.replace(",", "").strip()
        return int(text) if text.isdigit() else None

    wait(browser, 30).until(lambda d: online(d) is not None)
    before = online(browser)
    assert before is not None
    changed_at = browser.find_element(By.ID, "overview-as-of").text
    assert "Last change" in changed_at and "60 s" in changed_at
    browser.execute_script("window.__sameDocument = true")
    twin.start_agent("room-104")
    wait(browser, 180).until(lambda d: (online(d) or 0) > before)  # the agent's start, then the minute's pass
    assert browser.execute_script("return window.__sameDocument === true"), "the page was reloaded"
    polls = object_polls(browser)
    assert len(polls) >= 2 and len(set(polls)) == 1, polls  # one URL, polled again and again
    assert browser.find_element(By.ID, "overview-as-of").text != changed_at  # the object's content changed
    assert site.sent("GET", "/api/overview/feed")
    plain = [p for p in site.sent("GET", "/api/overview") if p.split("?")[0] == "/api/overview"]
    assert plain == plain_before, "the overview polled the API"
    assert not site.sent("GET", "/api/live/")
    assert not errors_thrown(browser)


def test_the_sites_page_judges_links_by_the_clouds_stale_after_s(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    """The dashboard keeps no copy of the cloud's ``stale_after_s``: the sites page, opened directly (a fresh
    document, no overview seen yet), learns it from the overview's answer and shows the site's link up."""
    sign_in(browser, site, tokens["admin"])
    browser.execute_script("localStorage.setItem('ct.lang', 'en')")
    asked = len(site.sent("GET", "/api/overview/feed"))
    browser.execute_script("window.location.hash = '#/sites'")
    browser.refresh()  # a fresh document on the sites page
    wait(browser).until(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == "sites")
    wait(browser, 30).until(lambda d: "link up" in rows(d, "sites-table").get(SITE, ""))
    assert len(site.sent("GET", "/api/overview/feed")) > asked  # the overview's answer, from its object in S3
    assert not errors_thrown(browser)


def test_a_batch_command_over_a_site_shows_each_agents_output_and_reruns_the_failed(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    open_page(browser, "commands")

    def send(cmd: str) -> None:
        Select(browser.find_element(By.ID, "command-form-kind")).select_by_value("site_id")
        target = browser.find_element(By.ID, "command-form-target")
        target.clear()
        target.send_keys(SITE)
        Select(browser.find_element(By.ID, "command-form-command")).select_by_value("exec")
        params = browser.find_element(By.ID, "command-form-params")
        params.clear()
        params.send_keys(json.dumps({"cmd": cmd}))
        browser.find_element(By.CSS_SELECTOR, "#command-form button[type=submit]").click()
        # exec asks first, showing what will run
        wait(browser).until(ec.visibility_of_element_located((By.ID, "confirm-ok")))
        assert cmd in browser.find_element(By.CSS_SELECTOR, "dialog.confirm").text
        browser.find_element(By.ID, "confirm-ok").click()

    send("echo batch-$((6*7))")
    wait(browser, 60).until(lambda d: (r := rows(d, "results-table")) and {"room-101", "room-102"} <= set(r)
                            and all("succeeded" in text for text in r.values()))
    for agent, text in rows(browser, "results-table").items():
        assert "batch-42" in text, (agent, text)
    assert SITE in browser.find_element(By.ID, "results-table").text

    send("echo failing >&2; exit 3")
    wait(browser, 60).until(lambda d: (r := rows(d, "results-table")) and all("failed" in t for t in r.values())
                            and len(r) >= 2)
    first = browser.find_element(By.ID, "command-results").get_attribute("data-command")
    assert "failing" in browser.find_element(By.ID, "results-table").text
    browser.find_element(By.ID, "rerun-failed").click()
    wait(browser).until(ec.visibility_of_element_located((By.ID, "confirm-ok"))).click()
    wait(browser, 30).until(lambda d: d.find_element(By.ID, "command-results").get_attribute("data-command") != first)
    wait(browser, 60).until(lambda d: (r := rows(d, "results-table")) and {"room-101", "room-102"} <= set(r)
                            and all("failed" in t for t in r.values()))


def test_a_changed_setting_shows_desired_until_reported_catches_up(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    Select(browser.find_element(By.ID, "poll-interval")).select_by_value("5")
    open_page(browser, "agents/room-102")
    open_tab(browser, "settings")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "setting-form-key"))).send_keys("theme_mode")
    browser.find_element(By.ID, "setting-form-value").send_keys("dark")
    browser.find_element(By.CSS_SELECTOR, "#setting-form button[type=submit]").click()
    wait(browser).until(lambda d: "dark" in rows(d, "settings-table").get("theme_mode", ""))
    reported = '#settings-table tr[data-key="theme_mode"] td[data-col="reported"]'
    wait(browser, 90).until(lambda d: (row := d.find_elements(By.CSS_SELECTOR, reported)) and row[0].text == "dark")
    assert "in sync" in rows(browser, "settings-table")["theme_mode"]
    assert not errors_thrown(browser)


def test_hostile_strings_from_the_fleet_are_shown_as_text(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    """A setting value (what a stolen agent or a careless operator could put there) with HTML in it is text."""
    payload = '<img src=x onerror="window.__owned=1"><b id="injected">bold</b>'
    status, body = api(twin, "PUT", "/api/agents/room-101/settings", tokens["admin"], {"settings": {"motd": payload}})
    assert status == 200, body
    sign_in(browser, site, tokens["admin"])
    open_page(browser, "agents/room-101")
    open_tab(browser, "settings")
    wait(browser).until(lambda d: payload in rows(d, "settings-table").get("motd", ""))
    assert not browser.find_elements(By.ID, "injected")
    assert browser.execute_script("return window.__owned") is None
    api(twin, "PUT", "/api/agents/room-101/settings", tokens["admin"], {"settings": {"motd": None}})


def test_an_agents_charts_and_timetable_render(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    open_page(browser, "agents/room-101")
    open_tab(browser, "metrics")
    for chart in ("chart-cpu", "chart-mem"):
        wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#{chart} canvas")))
        width = browser.execute_script(f"return document.querySelector('#{chart} canvas').width")
        assert width > 200
    browser.find_element(By.CSS_SELECTOR, '#metrics-range button[data-range="week"]').click()
    week = '#metrics-range [data-range="week"]'
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, week).get_attribute("aria-pressed") == "true")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-cpu canvas")
    open_tab(browser, "timetable")
    wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#weekgrid .wg-entry")) == len(SCHEDULE))
    assert "Mathematics" in browser.find_element(By.ID, "weekgrid").text
    open_tab(browser, "overview")
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#inventory .kv")))
    assert not errors_thrown(browser)


def test_the_cameras_page_shows_a_camera_and_a_new_snapshot(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    open_page(browser, "cameras")
    wait(browser).until(lambda d: len(Select(d.find_element(By.ID, "cam-site")).options) > 1)
    Select(browser.find_element(By.ID, "cam-site")).select_by_value(SITE)
    wait(browser).until(lambda d: len(Select(d.find_element(By.ID, "cam-agent")).options) > 2)
    Select(browser.find_element(By.ID, "cam-agent")).select_by_value("room-101")
    card = '.camera[data-camera="door"]'
    wait(browser, 60).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, card), "120 @ 10 fps"))  # 160x120
    assert "Front door" in browser.find_element(By.CSS_SELECTOR, card).text
    browser.find_element(By.CSS_SELECTOR, f"{card} .snapshot-btn").click()
    natural_width = f"const i = document.querySelector('{card} .snapshot img'); return i ? i.naturalWidth : 0"
    wait(browser, 60).until(lambda d: d.execute_script(natural_width) > 0)
    assert browser.execute_script(natural_width) == CAMERA["width"]
    assert not errors_thrown(browser)


#: buttons a viewer may see: navigation, sorting, paging, tabs, ranges, preferences, sign-out, dismissing toasts
VIEWER_BUTTONS = ("dt-sort", "dt-prev", "dt-next", "link", "icon")


def test_a_viewer_finds_no_control_buttons(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["viewer"])
    nav = browser.find_element(By.ID, "nav").text
    assert "Agents" in nav and "Audit" not in nav and "Users" not in nav and "API tokens" not in nav
    pages = ("sites", f"sites/{SITE}", "agents", "commands", "cameras")
    visited: list[tuple[str, str | None]] = [(page, None) for page in pages]
    tabs = ("overview", "metrics", "settings", "timetable", "cameras", "history")
    visited += [("agents/room-101", tab) for tab in tabs]
    for page, tab in visited:
        open_page(browser, page)
        if tab:
            open_tab(browser, tab)
        wait(browser).until(lambda d: not d.find_elements(By.XPATH, "//*[contains(text(),'Loading…')]"))
        controls = []
        for b in browser.find_elements(By.CSS_SELECTOR, "main button, main input[type=checkbox], main form"):
            if not b.is_displayed():
                continue
            classes = set((b.get_attribute("class") or "").split())
            if b.get_attribute("role") == "tab" or b.get_attribute("data-range") or classes & set(VIEWER_BUTTONS):
                continue
            in_open_form = b.find_elements(By.XPATH, "ancestor::form[@id='open-command']")
            if b.get_attribute("id") == "open-command" or in_open_form:
                continue  # opening a command by its id only reads
            controls.append((b.tag_name, b.get_attribute("id"), b.text))
        assert not controls, (page, tab, controls)
    # nor by going there directly
    open_page(browser, "tokens")
    assert "Page not found" in browser.find_element(By.ID, "main").text


def test_an_operator_of_another_site_sees_none_of_this_sites_agents(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["other-operator"])
    open_page(browser, "agents")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "agents-table"), "Nothing to show"))
    assert not rows(browser, "agents-table")
    open_page(browser, "agents/room-101")
    wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".errorbox")))
    assert not browser.find_elements(By.ID, "agent-facts")
    status, _ = api(twin, "GET", "/api/agents/room-101", tokens["other-operator"])
    assert status == 404
    status, body = api(twin, "GET", f"/api/agents?site_id={SITE}", tokens["other-operator"])
    assert status == 200 and body["data"]["agents"] == []


def test_bad_form_input_shows_a_message_and_sends_nothing(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    open_page(browser, "commands")
    before = len(site.sent("POST"))

    def submit_and_read(form: str, field: str) -> str:
        browser.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]").click()
        msg = browser.find_element(By.ID, f"{form}-{field}-msg")
        wait(browser).until(lambda _: "error" in (msg.get_attribute("class") or ""))
        assert browser.find_element(By.ID, f"{form}-{field}").get_attribute("aria-invalid") == "true"
        return msg.text

    assert submit_and_read("command-form", "target") == "This field is required."
    browser.find_element(By.ID, "command-form-target").send_keys("room-101 bad/id")
    assert "is not an agent, site, group or tag name" in submit_and_read("command-form", "target")
    target = browser.find_element(By.ID, "command-form-target")
    target.clear()
    target.send_keys("room-101")
    browser.find_element(By.ID, "command-form-params").send_keys("{not json")
    assert submit_and_read("command-form", "params") == "Not valid JSON."
    params = browser.find_element(By.ID, "command-form-params")
    params.clear()
    params.send_keys("{}")
    browser.find_element(By.ID, "command-form-timeout_s").send_keys("ten")
    assert submit_and_read("command-form", "timeout_s") == "Enter a whole number."

    open_page(browser, "tokens")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "token-form-name"))).send_keys("x" * 129)
    assert submit_and_read("token-form", "name") == "Too long: at most 128 characters."
    open_page(browser, "sites")
    wait(browser).until(ec.element_to_be_clickable((By.ID, "enrol-open"))).click()
    browser.find_element(By.ID, "enrol-form-name").send_keys("new school")
    ttl = browser.find_element(By.ID, "enrol-form-ttl_h")
    ttl.clear()
    ttl.send_keys("0")
    assert submit_and_read("enrol-form", "ttl_h") == "Enter a number from 1 to 720."
    assert len(site.sent("POST")) == before, site.sent("POST")[before:]


def test_a_wrong_token_is_refused(site: WebSite, browser: WebDriver) -> None:
    browser.get(site.url + "/dashboard/")
    wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "details.advanced summary"))).click()
    browser.find_element(By.ID, "token-signin-token").send_keys("ctk_wrong-token")
    browser.find_element(By.CSS_SELECTOR, "#token-signin button[type=submit]").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "token-signin-error"), "not accepted"))
    assert not browser.find_elements(By.ID, "nav")
    assert browser.execute_script("return sessionStorage.getItem('ct.session')") is None


def test_dark_mode_and_chinese_are_switched_and_remembered(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    sign_in(browser, site, tokens["admin"])
    light = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    Select(browser.find_element(By.ID, "theme-select")).select_by_value("dark")
    assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
    dark = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert dark != light
    Select(browser.find_element(By.ID, "lang-select")).select_by_value("zh-CN")
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "nav"), "总览"))
    assert browser.execute_script("return document.documentElement.lang") == "zh-CN"
    browser.refresh()  # both remembered; the session too (sessionStorage)
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "nav"), "终端"))
    assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
    open_page(browser, "agents")
    wait(browser).until(lambda d: "在线" in rows(d, "agents-table").get("room-101", ""))
    assert not errors_thrown(browser)


def test_the_agents_table_and_the_tabs_work_from_the_keyboard(
    twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver
) -> None:
    from selenium.webdriver.common.keys import Keys

    sign_in(browser, site, tokens["viewer"])
    open_page(browser, "agents")
    wait(browser).until(lambda d: {"room-101", "room-102"} <= set(rows(d, "agents-table")))
    search = browser.find_element(By.ID, "agents-table-search")
    search.click()
    # Tab leaves the search, passes the filters and the column headers' sort buttons and lands on the first row
    for _ in range(30):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.get_attribute("data-key"):
            break
    first = browser.switch_to.active_element
    assert first.get_attribute("data-key") == "room-101", (first.get_attribute("outerHTML") or "")[:200]
    first.send_keys(Keys.ARROW_DOWN)
    assert browser.switch_to.active_element.get_attribute("data-key") == "room-102"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "agent-title"), "room-102"))
    tab = wait(browser).until(ec.element_to_be_clickable((By.ID, "tab-overview")))
    tab.send_keys(Keys.ARROW_RIGHT)
    wait(browser).until(lambda d: d.find_element(By.ID, "tab-metrics").get_attribute("aria-selected") == "true")
    assert browser.switch_to.active_element.get_attribute("id") == "tab-metrics"


#: (file name part, hash path, tab to open, what to wait for); the agent's charts (agent-metrics) are shot by
#: test_dashboard_metrics.py, whose twin has an hour of rollups to draw
PAGES = [
    ("overview", "overview", None, "#overview-sites tbody tr[data-key]"),
    ("sites", "sites", None, "#sites-table tbody tr[data-key]"),
    ("site", f"sites/{SITE}", None, "#site-agents tbody tr[data-key]"),
    ("agents", "agents", None, "#agents-table tbody tr[data-key]"),
    ("agent", "agents/room-101", "overview", "#inventory .kv"),
    ("agent-settings", "agents/room-101", "settings", "#setting-form"),
    ("agent-timetable", "agents/room-101", "timetable", "#weekgrid .wg-entry"),
    ("commands", "commands/{command}", None, "#results-table tbody tr[data-key]"),
    ("cameras", "cameras", None, "#cam-site"),
    ("agent-cameras", "agents/room-101", "cameras", '.camera[data-camera="door"]'),
    ("audit", "audit", None, "#audit-table tbody tr[data-key]"),
    ("users", "users", None, "#invite-form"),
    ("tokens", "tokens", None, "#tokens-table tbody tr[data-key]"),
]


def test_screenshots_of_every_main_page(twin: Twin, site: WebSite, tokens: dict[str, str], browser: WebDriver) -> None:
    """docs/screenshots/dashboard-<page>-<lang>[-dark].png; the sign-in page too."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    status, body = api(twin, "POST", "/api/commands?wait=20", tokens["admin"],
                       {"site_id": SITE, "command": "exec", "params": {"cmd": "uname -sr; uptime -p"}})
    assert status in (200, 202), body
    command = body["data"]["command_id"]
    browser.get(site.url + "/dashboard/")
    for lang, dark in (("en", False), ("zh-CN", False), ("en", True), ("zh-CN", True)):
        suffix = f"{lang}{'-dark' if dark else ''}"
        browser.execute_script("localStorage.setItem('ct.lang', arguments[0]);"
                               "localStorage.setItem('ct.theme', arguments[1]); sessionStorage.clear()",
                               lang, "dark" if dark else "light")
        browser.get(site.url + "/dashboard/")
        wait(browser).until(ec.visibility_of_element_located((By.ID, "signin-page")))
        browser.save_screenshot(str(SCREENSHOTS / f"dashboard-signin-{suffix}.png"))
        sign_in(browser, site, tokens["admin"])
        for name, path, tab, ready in PAGES:
            open_page(browser, path.format(command=command))
            if tab:
                open_tab(browser, tab)
            WebDriverWait(browser, 20, ignored_exceptions=(NoSuchElementException,)).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(str(SCREENSHOTS / f"dashboard-{name}-{suffix}.png"))
    # a tablet, upright
    browser.set_window_size(820, 1180)
    for name, path in (("agents", "agents"), ("overview", "overview")):
        open_page(browser, path)
        wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, "tbody tr[data-key]")))
        browser.save_screenshot(str(SCREENSHOTS / f"dashboard-{name}-zh-CN-dark-tablet.png"))
    assert not errors_thrown(browser)
