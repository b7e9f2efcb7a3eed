"""The site console (``/``) in Debian's Chromium against the local twin's real LMS and agents: signing in with a
one-time password (and a wrong one refused), live presence by push, a batch over a room, the command picker,
charts, a command's output, a viewer's page, bad input, the push channel cut (polling takes over), the open alerts'
banner (acknowledged by an operator, no button for a viewer), and screenshots in both languages, light and dark, at
desktop and tablet widths."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select

from infra.local.twin import Twin
from tests.browser.browser import chromium, spki_sha256, wait
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AGENTS = ("room-101", "room-102")
NEW_PASSWORD = "a long classroom passphrase"
#: a tablet held upright (iPad Air), beside the desktop's 1280x900
TABLET = (820, 1180)


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with running_twin("ct-console-", agent_ids=AGENTS) as twin:
        lms(twin, "PUT", "/api/groups/room-101", {"agents": ["room-101"], "description": "first floor"})
        lms(twin, "PUT", "/api/groups/science-wing", {"agents": list(AGENTS), "description": "labs"})
        yield twin


def lms(twin: Twin, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The twin's LMS API as its admin token (the site CA is trusted for this call only)."""
    assert twin.tls is not None
    context = ssl.create_default_context(cafile=str(twin.tls.ca_file))
    request = urllib.request.Request(
        twin.lms_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {twin.lms_token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def invite(twin: Twin, username: str, role: str) -> str:
    """A new account; its one-time password."""
    answer = lms(twin, "POST", "/api/accounts", {"username": username, "role": role})
    return str(answer["data"]["one_time_password"])


@pytest.fixture
def browser(twin: Twin) -> Iterator[WebDriver]:
    assert twin.tls is not None
    with chromium(f"--ignore-certificate-errors-spki-list={spki_sha256(twin.tls.lms.cert_file)}") as driver:
        yield driver


def sign_in(driver: WebDriver, twin: Twin, username: str, password: str, new_password: str | None = None) -> None:
    driver.get(twin.lms_url + "/")
    wait(driver).until(ec.visibility_of_element_located((By.ID, "signin-username"))).send_keys(username)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    if new_password is not None:
        wait(driver).until(ec.visibility_of_element_located((By.ID, "change-password-current"))).send_keys(password)
        driver.find_element(By.ID, "change-password-next").send_keys(new_password)
        driver.find_element(By.CSS_SELECTOR, "#change-password button[type=submit]").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "nav")))


def screenshot(driver: WebDriver, name: str) -> None:
    """``docs/screenshots/<name>.png`` at the window's (desktop) width, and ``<name>-tablet.png`` at a tablet's."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    size = driver.get_window_size()
    driver.set_window_size(*TABLET)
    try:
        wait(driver).until(lambda d: d.execute_script("return window.innerWidth") <= TABLET[0])
        driver.execute_script("return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-tablet.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])


def row_status(driver: WebDriver, agent_id: str) -> str:
    rows = driver.find_elements(By.CSS_SELECTOR, f'#agents tr[data-key="{agent_id}"]')
    return rows[0].text if rows else ""


@pytest.fixture(scope="module")
def operator_password(twin: Twin) -> str:
    return invite(twin, "tech", "operator")


@pytest.fixture
def operator(browser: WebDriver, twin: Twin, operator_password: str) -> WebDriver:
    """The operator, signed in (the first time through the one-time password's change)."""
    changed = getattr(twin, "_tech_changed", False)
    sign_in(browser, twin, "tech", NEW_PASSWORD if changed else operator_password,
            None if changed else NEW_PASSWORD)  # fmt: skip
    twin._tech_changed = True  # type: ignore[attr-defined]
    wait(browser, 30).until(lambda d: all("online" in row_status(d, a) for a in AGENTS))
    return browser


def test_an_agent_killed_goes_offline_and_comes_back_without_a_reload(twin: Twin, operator: WebDriver) -> None:
    wait(operator).until(lambda d: d.find_element(By.ID, "live-mode").get_attribute("data-mode") == "push")
    marker = operator.execute_script("window.__same_page = 1; return window.__same_page")
    kill_and_restart(twin, operator, "room-102")
    assert operator.execute_script("return window.__same_page") == marker  # never reloaded


def kill_and_restart(twin: Twin, driver: WebDriver, agent_id: str) -> None:
    """kill -9 of the agent's process: the page shows it offline, then online once it runs again (the twin's
    supervisor restarts it; if it is not watching, the test does)."""
    child = twin.agents[agent_id]
    child.kill()  # no goodbye: the broker's Last Will reaches the LMS at once
    wait(driver, 30).until(lambda d: "offline" in row_status(d, agent_id))
    with contextlib.suppress(Exception):
        wait(driver, 15).until(lambda _d: child.alive)
    if not child.alive:
        child.restart()
    wait(driver, 60).until(lambda d: "online" in row_status(d, agent_id))


def test_a_batch_over_a_room_shows_each_agents_result(twin: Twin, operator: WebDriver) -> None:
    # a selection: the picker offers what both kinds run, and nothing admin-only to an operator
    for agent_id in AGENTS:
        operator.find_element(By.CSS_SELECTOR, f'#agents tr[data-key="{agent_id}"] input[type=checkbox]').click()
    wait(operator).until(ec.visibility_of_element_located((By.ID, "batch-command-command")))
    options = [o.get_attribute("value") for o in Select(operator.find_element(By.ID, "batch-command-command")).options]
    assert "ping" in options and "exec" not in options  # exec is for admins only
    for agent_id in AGENTS:  # unselected again: the room's button chooses them
        operator.find_element(By.CSS_SELECTOR, f'#agents tr[data-key="{agent_id}"] input[type=checkbox]').click()
    operator.find_element(
        By.CSS_SELECTOR, '#rooms .tile[data-room="science-wing"] button[data-action="batch-room"]'
    ).click()
    wait(operator).until(ec.text_to_be_present_in_element((By.ID, "batch-h"), "science-wing"))
    operator.execute_script("""const real = window.fetch; window.__batch = [];
      window.fetch = (url, opts) => { if (String(url).includes('/api/commands/batch')) window.__batch.push(opts.body);
        return real(url, opts); };""")
    Select(operator.find_element(By.ID, "batch-command-command")).select_by_value("get_info")
    operator.find_element(By.CSS_SELECTOR, "#batch-command button[type=submit]").click()
    wait(operator, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#batch-results tbody tr")) == len(AGENTS))
    sent = [json.loads(b) for b in operator.execute_script("return window.__batch")]
    assert [b["target"] for b in sent] == [{"group": "science-wing"}]  # the room, resolved by the LMS
    for agent_id in AGENTS:
        row = operator.find_element(By.CSS_SELECTOR, f'#batch-results tr[data-agent="{agent_id}"]')
        assert "succeeded" in row.text and agent_id in row.text, row.text  # get_info names the agent
    operator.execute_script("document.getElementById('batch-results').scrollIntoView({block: 'end'})")
    operator.save_screenshot(str(SCREENSHOTS / "console-batch-en.png"))


def test_agent_detail_charts_settings_and_bad_input(twin: Twin, operator: WebDriver) -> None:
    operator.find_element(By.CSS_SELECTOR, '#agents tr[data-key="room-101"] a').click()
    wait(operator).until(ec.text_to_be_present_in_element((By.ID, "agent-title"), "room-101"))
    # the charts draw (a canvas each) once the history arrives
    wait(operator, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart-cpu canvas")) > 0)
    # ... with the agent's samples in them (an empty chart still draws its axes, and says so)
    points = "return [...document.querySelectorAll('figure.chart')].map((f) => [f.id, Number(f.dataset.points)])"
    wait(operator, 60).until(lambda d: all(n > 0 for _, n in d.execute_script(points)))
    charts = {c for c, _ in operator.execute_script(points)}
    assert charts >= {"chart-cpu", "chart-memory", "chart-disk", "chart-network"}, charts
    assert not operator.find_elements(By.CSS_SELECTOR, "figure.chart .chart-empty")
    # bad input: an empty key and parameters that are not JSON send nothing and say why
    operator.find_element(By.CSS_SELECTOR, "#setting-edit button[type=submit]").click()
    assert operator.find_element(By.ID, "setting-edit-key-msg").text
    params = operator.find_element(By.ID, "agent-command-params")
    params.send_keys("{not json")
    operator.find_element(By.CSS_SELECTOR, "#agent-command button[type=submit]").click()
    wait(operator).until(lambda d: d.find_element(By.ID, "agent-command-params-msg").text)
    assert not operator.find_elements(By.ID, "command-output")
    # a good setting is saved and shown
    operator.find_element(By.ID, "setting-edit-key").send_keys("theme_mode")
    operator.find_element(By.ID, "setting-edit-value").send_keys("light")
    operator.find_element(By.CSS_SELECTOR, "#setting-edit button[type=submit]").click()
    theme = (By.CSS_SELECTOR, '#settings tr[data-key="theme_mode"]')
    wait(operator, 30).until(lambda d: "light" in d.find_element(*theme).text)
    # a command runs and its output is read back
    empty = "arguments[0].value = ''; arguments[0].dispatchEvent(new Event('input', {bubbles: true}))"
    operator.execute_script(empty, operator.find_element(By.ID, "agent-command-params"))
    Select(operator.find_element(By.ID, "agent-command-command")).select_by_value("get_info")
    operator.find_element(By.CSS_SELECTOR, "#agent-command button[type=submit]").click()
    output = wait(operator, 30).until(ec.visibility_of_element_located((By.ID, "command-output")))
    assert "room-101" in output.text, output.text


def test_a_wrong_password_is_refused_with_a_clear_message(twin: Twin, browser: WebDriver) -> None:
    browser.get(twin.lms_url + "/")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "signin-username"))).send_keys("tech")
    browser.find_element(By.ID, "signin-password").send_keys("not the password at all")
    browser.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "signin-error"), "Wrong user name or password"))
    assert not browser.find_elements(By.ID, "nav")


def test_a_viewer_finds_no_control_and_a_classtop_kind_gets_only_its_commands(twin: Twin, browser: WebDriver) -> None:
    sign_in(browser, twin, "wall", invite(twin, "wall", "viewer"), NEW_PASSWORD)
    wait(browser, 30).until(lambda d: "online" in row_status(d, "room-101"))
    assert not browser.find_elements(By.ID, "batch")
    assert not browser.find_elements(By.CSS_SELECTOR, "#agents input[type=checkbox]")
    assert not browser.find_elements(By.ID, "nav-accounts")
    browser.find_element(By.CSS_SELECTOR, '#agents tr[data-key="room-101"] a').click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "agent-title"), "room-101"))
    assert not browser.find_elements(By.ID, "setting-edit") and not browser.find_elements(By.ID, "agent-command")
    # the picker's catalogue: a ClassTop client is offered neither exec nor get_metrics
    catalogue = lms(twin, "GET", "/api/commands/catalog")["data"]["kinds"]
    legacy = {c["name"] for c in catalogue["legacy"]}
    assert "set_setting" in legacy and "camera_start_preview" in legacy
    assert "exec" not in legacy and "get_metrics" not in legacy


#: Before any page script: remember every EventSource, and once ``window.__cut`` is set, open new ones to a path
#: that does not exist (as a proxy that drops event streams would): the real browser API, failing for real.
CUTTABLE = """(() => {
  const Real = window.EventSource;
  window.__sources = [];
  window.EventSource = class extends Real {
    constructor(url, opts) { super(window.__cut ? '/api/no-such-stream' : url, opts); window.__sources.push(this); }
  };
})();"""


def test_the_push_channel_cut_falls_back_to_polling_and_says_so(twin: Twin, operator: WebDriver) -> None:
    operator.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CUTTABLE})
    operator.refresh()  # the session cookie keeps it signed in
    wait(operator).until(lambda d: d.find_element(By.ID, "live-mode").get_attribute("data-mode") == "push")
    operator.execute_script("window.__cut = true; window.__sources.forEach((s) => s.dispatchEvent(new Event('error')))")
    wait(operator).until(lambda d: d.find_element(By.ID, "live-mode").get_attribute("data-mode") == "poll")
    assert operator.find_element(By.ID, "live-mode").text.strip() == "polling"
    # the page still follows the site, by polling now (a stop, not a kill: the supervisor would restart a killed
    # agent sooner than one poll period, and the page would never see it gone)
    child = twin.agents["room-102"]
    child.stop()
    wait(operator, 30).until(lambda d: "offline" in row_status(d, "room-102"))
    child.restart()
    wait(operator, 60).until(lambda d: "online" in row_status(d, "room-102"))
    assert operator.find_element(By.ID, "live-mode").get_attribute("data-mode") == "poll"
    # the channel back: the page's next try resumes after the last change it had, so the LMS sends what it missed
    operator.execute_script("window.__cut = false")
    wait(operator, 30).until(lambda d: d.find_element(By.ID, "live-mode").get_attribute("data-mode") == "push")
    url = operator.execute_script("return window.__sources[window.__sources.length - 1].url")
    assert re.search(r"/api/live\?after=[0-9]+$", url), url


def test_open_alerts_show_in_a_banner_operators_acknowledge_and_viewers_only_read(
    twin: Twin, operator: WebDriver
) -> None:
    """An agent stopped raises an offline alert (a rule with no delay, for that agent only): the banner shows it on
    every page, an operator acknowledges it, a viewer sees it with no button; back online, it resolves and the
    banner goes."""
    rule = {"rule_id": "console-offline", "name": "Room PC offline", "severity": "error",
            "condition": {"kind": "agent_offline", "for_s": 0}, "scope": {"agents": ["room-102"]}}  # fmt: skip
    lms(twin, "POST", "/api/alerts/rules", rule)
    child = twin.agents["room-102"]
    try:
        assert not operator.find_elements(By.ID, "alerts-banner")
        child.stop()
        banner = wait(operator, 60).until(ec.visibility_of_element_located((By.ID, "alerts-banner")))
        wait(operator).until(lambda _d: "Room PC offline" in banner.text and "room-102" in banner.text)
        assert "error" in (banner.get_attribute("class") or "")
        operator.save_screenshot(str(SCREENSHOTS / "console-alerts-en.png"))
        assert twin.tls is not None
        with chromium(f"--ignore-certificate-errors-spki-list={spki_sha256(twin.tls.lms.cert_file)}") as viewer:
            sign_in(viewer, twin, "lookout", invite(twin, "lookout", "viewer"), NEW_PASSWORD)
            seen = wait(viewer, 30).until(ec.visibility_of_element_located((By.ID, "alerts-banner")))
            wait(viewer).until(lambda _d: "Room PC offline" in seen.text)
            assert not viewer.find_elements(By.CSS_SELECTOR, "#alerts-banner button")
            operator.find_element(By.CSS_SELECTOR, '#alerts-banner button[data-action="acknowledge"]').click()
            wait(operator, 30).until(
                ec.text_to_be_present_in_element((By.ID, "alerts-banner"), "acknowledged by user:tech")
            )
            assert not operator.find_elements(By.CSS_SELECTOR, '#alerts-banner button[data-action="acknowledge"]')
            opened = lms(twin, "GET", "/api/alerts?state=open&rule=console-offline")["data"]["alerts"]
            assert [(a["state"], a["acknowledged_by"]) for a in opened] == [("acknowledged", "user:tech")]
            viewer.refresh()
            wait(viewer, 30).until(ec.text_to_be_present_in_element((By.ID, "alerts-banner"), "acknowledged by"))
        child.restart()
        wait(operator, 60).until(ec.invisibility_of_element_located((By.ID, "alerts-banner")))
    finally:
        lms(twin, "DELETE", "/api/alerts/rules/console-offline")
        if not child.alive:
            child.restart()


def test_screenshots_of_every_main_page(twin: Twin, browser: WebDriver) -> None:
    """docs/screenshots/console-<page>-<lang>[-dark][-tablet].png, and the sign-in page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    password = invite(twin, "shots", "admin")
    sign_in(browser, twin, "shots", password, NEW_PASSWORD)
    for lang, dark in (("en", False), ("zh-CN", False), ("en", True), ("zh-CN", True)):
        suffix = f"{lang}{'-dark' if dark else ''}"
        browser.execute_script(
            "localStorage.setItem('ct.lang', arguments[0]);localStorage.setItem('ct.theme', arguments[1]);",
            lang,
            "dark" if dark else "light",
        )
        for name, path, ready in (
            ("fleet", "#/fleet", (By.CSS_SELECTOR, '#agents tr[data-key="room-101"]')),
            ("agent", "#/agents/room-101", (By.CSS_SELECTOR, "#chart-cpu canvas")),
            ("accounts", "#/accounts", (By.CSS_SELECTOR, "#accounts tr[data-key]")),
        ):
            browser.get(f"{twin.lms_url}/{path}")
            browser.refresh()
            wait(browser, 30).until(ec.presence_of_element_located(ready))
            screenshot(browser, f"console-{name}-{suffix}")
    browser.find_element(By.ID, "sign-out").click()
    wait(browser).until(ec.visibility_of_element_located((By.ID, "signin-username")))
    screenshot(browser, "console-signin-zh-CN-dark")
