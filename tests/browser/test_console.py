"""The LMS site console in a real headless Chromium, against the real LMS and agents of the local twin."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.twin import Twin, TwinOptions, TwinPorts
from tests.fixtures.brokers import Broker
from tests.integration.cctv_lms.camera_site import AGENT, CAMERA, camera_agent, lms_process

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

if CHROMIUM is None or CHROMEDRIVER is None:  # `make test` installs both; say clearly what is missing
    pytest.skip("chromium/chromium-driver are not installed (make deps-system installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    workdir = Path(tempfile.mkdtemp(prefix="ct-browser-"))
    t = Twin(workdir, TwinOptions(agent_ids=("room-101", "room-102"), ports=TwinPorts.free()))
    t.start()
    try:
        yield t
    finally:
        t.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM or ""
    profile = tempfile.mkdtemp(prefix="ct-chromium-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1280,900",
    ):  # fmt: skip
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or ""), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: WebDriver, timeout: float = 15) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout)


def sign_in(driver: WebDriver, twin: Twin) -> None:
    driver.get(twin.lms_url + "/")
    field = wait(driver).until(ec.visibility_of_element_located((By.ID, "token")))
    field.send_keys(getattr(twin, "lms_token", "") or "no-auth-configured")
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "app")))


def test_console_lists_agents_and_runs_a_command(twin: Twin, browser: WebDriver) -> None:
    sign_in(browser, twin)
    wait(browser).until(
        lambda d: {r.get_attribute("data-uuid") for r in d.find_elements(By.CSS_SELECTOR, "#clients tbody tr")}
        >= {"room-101", "room-102"}
    )
    assert "online" in browser.find_element(By.CSS_SELECTOR, "#clients tbody tr .pill").text
    assert twin.opt.site_id in browser.find_element(By.ID, "site").text
    browser.find_element(By.CSS_SELECTOR, '#clients tr[data-uuid="room-102"]').click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "detail-title"), "room-102"))
    Select(browser.find_element(By.ID, "command")).select_by_value("exec")
    params = browser.find_element(By.ID, "params")
    params.clear()
    params.send_keys(json.dumps({"cmd": "echo console-$((40+2))"}))
    browser.find_element(By.ID, "send").click()
    wait(browser).until(lambda d: "running" not in d.find_element(By.ID, "result").text)
    assert "console-42" in browser.find_element(By.ID, "result").text, browser.find_element(By.ID, "result").text
    result = json.loads(browser.find_element(By.ID, "result").text)
    assert result["exit_code"] == 0
    browser.save_screenshot(str(twin.workdir / "console.png"))


def test_console_edits_a_setting_and_shows_bad_params(twin: Twin, browser: WebDriver) -> None:
    sign_in(browser, twin)
    wait(browser).until(ec.presence_of_element_located((By.CSS_SELECTOR, '#clients tr[data-uuid="room-101"]')))
    browser.find_element(By.CSS_SELECTOR, '#clients tr[data-uuid="room-101"]').click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "detail-title"), "room-101"))
    browser.find_element(By.ID, "setting-key").send_keys("theme_mode")
    browser.find_element(By.ID, "setting-value").send_keys("dark")
    browser.find_element(By.CSS_SELECTOR, "#setting-form button").click()
    wait(browser).until(
        lambda d: any(
            "theme_mode" in r.text and "dark" in r.text for r in d.find_elements(By.CSS_SELECTOR, "#settings tbody tr")
        )
    )
    params = browser.find_element(By.ID, "params")
    params.clear()
    params.send_keys("{not json")
    browser.find_element(By.ID, "send").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "result"), "not valid JSON"))
    assert "failed" in browser.find_element(By.ID, "result").get_attribute("class")


def test_a_wrong_token_is_refused(twin: Twin, browser: WebDriver) -> None:
    if not getattr(twin, "lms_token", ""):
        pytest.skip("the LMS has no local authentication configured")
    browser.get(twin.lms_url + "/")
    wait(browser).until(ec.visibility_of_element_located((By.ID, "token"))).send_keys("wrong-token")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.ID, "login-error"), "not accepted"))
    assert not browser.find_element(By.ID, "app").is_displayed()


def test_console_shows_a_camera_live_through_the_lms(browser: WebDriver, site_broker: Broker, tmp_path: Path) -> None:
    """A real agent with a synthetic camera; the <img> loads the MJPEG proxied by the LMS (``?token=``)."""
    box = '.camera[data-camera="door"]'
    with lms_process(site_broker, tmp_path / "lms") as lms, camera_agent(site_broker, tmp_path / "agent"):
        lms.wait_agent(AGENT, timeout=30)
        assert lms.http.post(f"/api/cctv/{AGENT}/cameras", json=CAMERA).json()["success"]
        browser.get(lms.base_url + "/")
        wait(browser).until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(lms.admin_token)
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        row = wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, f'#clients tr[data-uuid="{AGENT}"]')))
        row.click()
        wait(browser, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{box} .watch"))).click()
        natural_width = f"return document.querySelector('{box} img').naturalWidth"
        wait(browser, 30).until(lambda d: d.execute_script(natural_width) > 0)
        assert browser.execute_script(natural_width) == CAMERA["width"]
        src = browser.find_element(By.CSS_SELECTOR, f"{box} img").get_attribute("src") or ""
        assert f"/api/cctv/{AGENT}/cameras/door/live?token=" in src
        browser.find_element(By.CSS_SELECTOR, f"{box} .watch").click()  # stop
        wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"{box} .watch").text == "Watch")
