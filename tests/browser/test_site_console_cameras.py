"""The site console's cameras page in Debian's Chromium against the real LMS and a real agent with synthetic
cameras: the notice before viewing, a live view on the wall (started on demand), a camera's health event by push,
a recording played and seeked on the timeline, a hold; an account without the cameras permission sees no video
and is told why; the audit log has each view with its duration; screenshots in both languages, light and dark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.browser import chromium, wait
from tests.browser.test_site_console import screenshot
from tests.fixtures.agents import AGENT
from tests.fixtures.brokers import Broker
from tests.integration.cctv_lms.camera_site import CAMERA, camera_agent, lms_process
from tests.integration.lms.lms_harness import LmsProcess, eventually

pytestmark = pytest.mark.browser


NOTICE = "Cameras are watched for the pupils' safety only. Every view is logged."
TILE = f'.camera-tile[data-agent="{AGENT}"][data-camera="door"]'


@pytest.fixture
def site(site_broker: Broker, tmp_path: Path) -> Iterator[LmsProcess]:
    with (
        lms_process(site_broker, tmp_path / "lms", {"console": {"camera_notice": NOTICE}}) as lms,
        camera_agent(site_broker, tmp_path / "agent"),
    ):
        lms.wait_agent(AGENT, timeout=30)
        assert lms.http.post(f"/api/cctv/{AGENT}/cameras", json={**CAMERA, "record": True}).json()["success"]
        assert lms.http.put("/api/groups/room-101", json={"agents": [AGENT]}).status_code == 200
        yield lms


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def account(lms: LmsProcess, username: str, role: str, cameras: bool) -> str:
    """A new account; its one-time password."""
    r = lms.http.post("/api/accounts", json={"username": username, "role": role, "cameras": cameras})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["one_time_password"])


def sign_in(driver: WebDriver, lms: LmsProcess, username: str, password: str) -> None:
    """Sign in with a one-time password and choose a new one, as a person does the first time."""
    driver.get(lms.base_url + "/")
    wait(driver).until(ec.visibility_of_element_located((By.ID, "signin-username"))).send_keys(username)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "change-password-current"))).send_keys(password)
    driver.find_element(By.ID, "change-password-next").send_keys(f"{username} has a long passphrase")
    driver.find_element(By.CSS_SELECTOR, "#change-password button[type=submit]").click()
    wait(driver).until(ec.visibility_of_element_located((By.ID, "nav")))


def natural_width(driver: WebDriver, selector: str) -> int:
    width = driver.execute_script(f"const i = document.querySelector('{selector}'); return i ? i.naturalWidth : 0")
    return int(width or 0)


def open_wall(driver: WebDriver) -> None:
    driver.find_element(By.ID, "nav-cameras").click()
    notice = wait(driver).until(ec.visibility_of_element_located((By.ID, "camera-notice")))
    assert NOTICE in notice.text and not driver.find_elements(By.CSS_SELECTOR, "main img")  # nothing before it
    driver.find_element(By.ID, "camera-notice-ok").click()
    wait(driver, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"{TILE} .watch")))


def audit(lms: LmsProcess) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = lms.http.get("/api/audit", params={"limit": 500}).json()["data"]["entries"]
    return entries


def test_watching_live_and_recordings_with_the_permission_and_none_without(
    site: LmsProcess, browser: WebDriver
) -> None:
    lms = site
    sign_in(browser, lms, "warden", account(lms, "warden", "operator", cameras=True))
    open_wall(browser)
    assert browser.find_element(By.CSS_SELECTOR, '.room[data-room="room-101"]').find_elements(By.CSS_SELECTOR, TILE)

    # a live view, started on demand (start_streaming by the operator's page), through the session cookie
    browser.find_element(By.CSS_SELECTOR, f"{TILE} .watch").click()
    wait(browser, 30).until(lambda d: natural_width(d, f"{TILE} img.live") > 0)
    assert natural_width(browser, f"{TILE} img.live") == CAMERA["width"]
    src = browser.find_element(By.CSS_SELECTOR, f"{TILE} img.live").get_attribute("src") or ""
    assert src.endswith(f"/api/cctv/{AGENT}/cameras/door/live") and "token" not in src

    # a camera whose picture is black: its cctv.covered event shows on its tile (pushed, and read again by the
    # refresh: a push missed while the channel was down is not lost)
    assert lms.http.post(
        f"/api/cctv/{AGENT}/cameras", json={**CAMERA, "camera_id": "hall", "source": "synthetic:black"}
    ).json()["success"]
    eventually(lambda: [e for e in lms.http.get("/api/events", params={"limit": 100}).json()["data"]["events"]
                        if e.get("kind") == "cctv.covered"], 30, what="the black camera's cctv.covered")  # fmt: skip
    browser.find_element(By.ID, "cameras-refresh").click()
    hall = '.camera-tile[data-camera="hall"] .camera-event[data-kind="cctv.covered"]'
    wait(browser, 30).until(ec.visibility_of_element_located((By.CSS_SELECTOR, hall)))
    assert natural_width(browser, f"{TILE} img.live") == CAMERA["width"]  # the refresh kept the view open

    # stop: the <img> lets the stream go and the audit row gets its duration
    browser.find_element(By.CSS_SELECTOR, f"{TILE} .watch").click()
    assert not browser.find_elements(By.CSS_SELECTOR, f"{TILE} img")
    views = eventually(lambda: [e for e in audit(lms) if e["action"] == "cctv:live" and e["actor"] == "user:warden"
                                and e["result"].startswith("ended after ")], 20,
                       what="the view's duration")  # fmt: skip
    assert views[0]["target"] == f"{AGENT}/door"

    # the camera's recordings: storage and retention, the timeline, playback with seek, a hold
    browser.find_element(By.CSS_SELECTOR, f"{TILE} .recordings-link").click()
    wait(browser, 30).until(ec.visibility_of_element_located((By.ID, "storage")))
    assert "none" in browser.find_element(By.ID, "storage").text  # no size or age limit configured
    finished = eventually(
        lambda: [
            r
            for r in lms.http.get(f"/api/cctv/{AGENT}/recordings", params={"camera_id": "door"}).json()["data"][
                "recordings"
            ]
            if not r["active"]
        ],
        30,
        what="a finished recording",
    )
    name = finished[-1]["name"]
    browser.refresh()  # the list as it is now (the page read it when it opened); the notice comes again
    wait(browser).until(ec.element_to_be_clickable((By.ID, "camera-notice-ok"))).click()
    segment = f'#timeline .segment[data-name="{name}"]'
    wait(browser, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, segment))).click()
    wait(browser, 30).until(lambda d: natural_width(d, "#playback") > 0)
    assert natural_width(browser, "#playback") == CAMERA["width"]
    assert (browser.find_element(By.ID, "playback").get_attribute("src") or "").endswith("/play?t=0")
    browser.execute_script(
        "const s = document.getElementById('seek'); s.value = '0.5';"
        "s.dispatchEvent(new Event('input', {bubbles: true}));"
    )
    browser.find_element(By.ID, "seek-play").click()
    wait(browser).until(lambda d: (d.find_element(By.ID, "playback").get_attribute("src") or "").endswith("t=0.5"))
    wait(browser, 30).until(lambda d: natural_width(d, "#playback") > 0)
    browser.find_element(By.ID, "hold").click()
    wait(browser, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, segment).get_attribute("data-held") == "true")
    held = {r["name"]: r["held"] for r in lms.http.get(f"/api/cctv/{AGENT}/recordings").json()["data"]["recordings"]}
    assert held[name] is True
    plays = eventually(lambda: [e for e in audit(lms) if e["action"] == "cctv:play" and e["actor"] == "user:warden"],
                       20, what="the playback in the audit log")  # fmt: skip
    assert {e["target"] for e in plays} == {f"{AGENT}/{name}"}

    # screenshots: the wall with a live view, and the recordings page, in both languages, light and dark
    for lang, dark in (("en", False), ("zh-CN", False), ("en", True), ("zh-CN", True)):
        suffix = f"{lang}{'-dark' if dark else ''}"
        browser.execute_script(
            "localStorage.setItem('ct.lang', arguments[0]);localStorage.setItem('ct.theme', arguments[1]);",
            lang,
            "dark" if dark else "light",
        )
        browser.get(f"{lms.base_url}/#/fleet")
        browser.refresh()
        wait(browser).until(ec.visibility_of_element_located((By.ID, "nav")))
        open_wall(browser)
        # a page opened after the event shows it too: from the stored events, nothing pushed since
        wait(browser, 30).until(ec.visibility_of_element_located((By.CSS_SELECTOR, hall)))
        browser.find_element(By.CSS_SELECTOR, f"{TILE} .watch").click()
        wait(browser, 30).until(lambda d: natural_width(d, f"{TILE} img.live") > 0)
        screenshot(browser, f"console-cameras-{suffix}")
        browser.find_element(By.CSS_SELECTOR, f"{TILE} .recordings-link").click()
        wait(browser, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, segment))).click()
        wait(browser, 30).until(lambda d: natural_width(d, "#playback") > 0)
        screenshot(browser, f"console-cameras-recordings-{suffix}")
    browser.execute_script("localStorage.setItem('ct.lang', 'en'); localStorage.setItem('ct.theme', 'light');")

    # an operator without the cameras permission: told why, no video anywhere, not even by typing the address
    browser.find_element(By.ID, "sign-out").click()
    wait(browser).until(ec.visibility_of_element_located((By.ID, "signin-username")))
    sign_in(browser, lms, "ops", account(lms, "ops", "operator", cameras=False))
    browser.find_element(By.ID, "nav-cameras").click()
    denied = wait(browser).until(ec.visibility_of_element_located((By.ID, "cameras-denied")))
    assert "permission" in denied.text
    for page in ("#/cameras", f"#/cameras/{AGENT}:door"):
        browser.get(f"{lms.base_url}/{page}")
        wait(browser).until(ec.visibility_of_element_located((By.ID, "cameras-denied")))
        assert not browser.find_elements(By.CSS_SELECTOR, "main img")
    assert not [e for e in audit(lms) if e["action"].startswith("cctv:") and e["actor"] == "user:ops"]
