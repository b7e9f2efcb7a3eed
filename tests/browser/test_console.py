"""The LMS site console in a real headless Chromium, against the real LMS and agents of the local twin."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from infra.local.twin import Twin
from shared import topics
from shared.messages import DiskUsage, Metrics, Presence, Status, encode
from shared.mqtt import MqttClient, MqttSettings
from shared.topics import AgentUp
from tests.browser.browser import chromium, spki_sha256, wait
from tests.fixtures.agents import AGENT
from tests.fixtures.brokers import Broker
from tests.fixtures.twins import running_twin
from tests.integration.cctv_lms.camera_site import CAMERA, camera_agent, lms_process
from tests.integration.legacy.classtop_client import FRAME
from tests.integration.legacy.conftest import CLIENT_SCRIPT

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with running_twin("ct-browser-", agent_ids=("room-101", "room-102")) as twin:
        yield twin


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[WebDriver]:
    extra: list[str] = []
    if "twin" in request.fixturenames:
        # The twin's LMS serves HTTPS with a certificate of its site CA, which this browser does not know:
        # trust exactly that certificate's key (as a school's browsers would trust the site CA once installed).
        twin: Twin = request.getfixturevalue("twin")
        assert twin.tls is not None
        extra.append(f"--ignore-certificate-errors-spki-list={spki_sha256(twin.tls.lms.cert_file)}")
    with chromium(*extra) as driver:
        yield driver


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
    """A real agent with a synthetic camera; the <img> loads the MJPEG proxied by the LMS with a short-lived
    ``?ticket=`` for that path (the API token never appears in a URL)."""
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
        assert f"/api/cctv/{AGENT}/cameras/door/live?ticket=" in src and lms.admin_token not in src
        browser.find_element(By.CSS_SELECTOR, f"{box} .watch").click()  # stop
        wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, f"{box} .watch").text == "Watch")


@contextlib.contextmanager
def classtop_client(url: str, uuid: str, workdir: Path) -> Iterator[subprocess.Popen[str]]:
    """The stand-in ClassTop desktop client (``classtop_client.py``) in its own process; killed on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / f"client-{uuid}.log", "w") as log:
        args = [sys.executable, str(CLIENT_SCRIPT), "--url", url, "--uuid", uuid, "--reconnect-s", "0.5"]
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def select_client(driver: WebDriver, uuid: str) -> WebElement:
    """Click a client's row (the table is redrawn every 3 s: retried when the row went stale); its Preview button
    once the ClassTop preview panel is shown for it."""

    def click(d: WebDriver) -> bool:
        d.find_element(By.CSS_SELECTOR, f'#clients tr[data-uuid="{uuid}"]').click()
        return True

    WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(click)
    wait(driver).until(ec.text_to_be_present_in_element((By.ID, "detail-title"), uuid))
    button: WebElement = wait(driver).until(ec.element_to_be_clickable((By.ID, "preview-toggle")))
    return button


def test_console_previews_a_classtop_client_camera(browser: WebDriver, site_broker: Broker, tmp_path: Path) -> None:
    """A ClassTop client (``kind`` legacy): Preview sends camera_start_preview and shows the polled latest frame
    in an <img>; Stop sends camera_stop_preview; a bad index and an offline client get a clear message."""
    uuid = str(uuidlib.uuid4())
    src = "return document.getElementById('preview-img').getAttribute('src') || ''"
    with lms_process(site_broker, tmp_path / "lms") as lms, classtop_client(lms.base_url, uuid, tmp_path) as client:
        assert lms.wait_agent(uuid, timeout=30)["kind"] == "legacy"
        browser.get(lms.base_url + "/")
        wait(browser).until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(lms.admin_token)
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        toggle = select_client(browser, uuid)
        assert browser.find_element(By.ID, "preview-index").get_attribute("value") == "0"
        assert not browser.find_elements(By.CSS_SELECTOR, "#cameras .camera")  # no MQTT-agent camera view

        # a camera index out of range is refused in the console, nothing is sent
        index = browser.find_element(By.ID, "preview-index")
        index.clear()
        index.send_keys("64")
        toggle.click()
        wait(browser).until(ec.text_to_be_present_in_element((By.ID, "cameras-note"), "from 0 to 63"))
        assert browser.find_element(By.ID, "preview-toggle").text == "Preview"
        index.clear()
        index.send_keys("0")

        # Preview: the client's frame, base64 JPEG in a data: URL, with its camera index in the caption
        toggle.click()
        wait(browser, 30).until(lambda d: d.execute_script(src) == f"data:image/jpeg;base64,{FRAME}")
        wait(browser).until(ec.text_to_be_present_in_element((By.ID, "preview-caption"), "camera 0"))
        assert browser.find_element(By.ID, "preview-toggle").text == "Stop"
        assert lms.command(uuid, "camera_get_status").json()["data"]["previewing"] is True

        # Stop: camera_stop_preview reached the client, the image is cleared
        browser.find_element(By.ID, "preview-toggle").click()
        wait(browser).until(ec.text_to_be_present_in_element((By.ID, "cameras-note"), "Preview stopped"))
        assert browser.find_element(By.ID, "preview-toggle").text == "Preview"
        assert browser.execute_script(src) == ""
        assert lms.command(uuid, "camera_get_status").json()["data"]["previewing"] is False

        # signing out stops a running preview too
        browser.find_element(By.ID, "preview-toggle").click()
        wait(browser, 30).until(lambda d: d.execute_script(src) == f"data:image/jpeg;base64,{FRAME}")
        browser.find_element(By.ID, "logout").click()
        wait(browser).until(lambda _: lms.command(uuid, "camera_get_status").json()["data"]["previewing"] is False)
        field = wait(browser).until(ec.visibility_of_element_located((By.ID, "token")))
        field.clear()
        field.send_keys(lms.admin_token)
        browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
        select_client(browser, uuid)

        # the client goes away: Preview says so instead of failing silently
        client.kill()
        client.wait(10)
        lms.wait_agent(uuid, "offline", timeout=15)
        browser.find_element(By.ID, "preview-toggle").click()
        wait(browser).until(ec.text_to_be_present_in_element((By.ID, "cameras-note"), "the client is offline"))
        assert browser.find_element(By.ID, "preview-toggle").text == "Preview"
        assert browser.execute_script(src) == ""
        thrown = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE" and e.get("source") != "network"]
        assert not thrown, thrown  # refused requests are logged by Chromium (network); nothing the console threw


def test_console_shows_open_alerts_in_its_banner(browser: WebDriver, site_broker: Broker, tmp_path: Path) -> None:
    """A disk over its threshold (an agent-like publisher on the real site broker) shows in the banner within a
    refresh; freed, the alert resolves and the banner goes."""
    def sample(percent: float) -> bytes:
        return encode(Metrics(timestamp=0, cpu_percent=1, mem_total=1, mem_used=0, mem_percent=1,
                              disks=[DiskUsage(mount="/", total=100, used=int(percent), percent=percent)]))

    with lms_process(site_broker, tmp_path / "lms") as lms:
        pc = MqttClient(MqttSettings(host=site_broker.host, port=site_broker.port, client_id=AGENT, username=AGENT,
                                     password=site_broker.passwords[AGENT]), name="banner-agent")  # fmt: skip
        pc.start(wait_s=5)
        try:
            online = Status(state=Presence.ONLINE, timestamp=0, reason="start")
            pc.publish(topics.agent_up(AGENT, AgentUp.STATUS), online, qos=1, retain=True)
            lms.wait_agent(AGENT)
            rule = {"rule_id": "default-disk", "name": "Disk nearly full", "severity": "error", "condition": {
                "kind": "metric_threshold", "metric": "disk_used_percent", "threshold": 90, "clear": 85}}
            assert lms.http.put("/api/alerts/rules/default-disk", json=rule).status_code == 200
            browser.get(lms.base_url + "/")
            wait(browser).until(ec.visibility_of_element_located((By.ID, "token"))).send_keys(lms.admin_token)
            browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
            wait(browser).until(ec.visibility_of_element_located((By.ID, "app")))
            assert not browser.find_element(By.ID, "alerts-banner").is_displayed()
            pc.publish(topics.agent_up(AGENT, AgentUp.METRICS), sample(97), qos=1)
            banner = wait(browser).until(ec.visibility_of_element_located((By.ID, "alerts-banner")))
            wait(browser).until(lambda _d: "Disk nearly full" in banner.text)
            assert "1 open alert" in banner.text and AGENT in banner.text and "error" in banner.get_attribute("class")
            pc.publish(topics.agent_up(AGENT, AgentUp.METRICS), sample(40), qos=1)
            wait(browser).until(ec.invisibility_of_element_located((By.ID, "alerts-banner")))
        finally:
            pc.stop()
