"""The dashboard as the twin serves it (the CloudFront stand-in: the web apps' files and the API on one origin, with
CloudFront's headers), signed in with accounts of the tenant's user pool (moto's cognito-idp): the demo admin, and an
invited person through the first-login password change."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from infra.local.twin import Twin
from tests.browser.browser import chromium, wait
from tests.fixtures.twins import running_twin

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with running_twin("ct-dash-accounts-", agent_ids=("room-301",)) as twin:
        yield twin


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def api(twin: Twin, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        twin.api_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {twin.admin_token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        data: dict[str, Any] = json.loads(answer.read())
    return data


def sign_in(driver: WebDriver, twin: Twin, email: str, password: str) -> None:
    driver.get(twin.api_url + "/")  # the distribution's root leads to the dashboard
    wait(driver, 30).until(ec.visibility_of_element_located((By.ID, "signin-email"))).send_keys(email)
    driver.find_element(By.ID, "signin-password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()


def csp_violations(driver: WebDriver) -> list[str]:
    logs: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [e["message"] for e in logs if "Content Security Policy" in e["message"]]


def test_the_demo_admin_signs_in_on_the_served_dashboard_under_its_csp(twin: Twin, browser: WebDriver) -> None:
    email, password = twin.demo_user
    sign_in(browser, twin, email, password)
    wait(browser, 30).until(ec.visibility_of_element_located((By.ID, "nav")))
    assert browser.current_url.startswith(twin.api_url + "/dashboard/")
    wait(browser, 30).until(lambda d: "admin" in d.find_element(By.ID, "who-role").text.lower()
                            or "管理员" in d.find_element(By.ID, "who-role").text)  # fmt: skip
    assert not csp_violations(browser)


def test_an_invited_person_changes_the_temporary_password_at_the_first_sign_in(twin: Twin, browser: WebDriver) -> None:
    invited = api(twin, "POST", "/api/users", {"email": "teacher@example.org", "role": "viewer"})["data"]
    temporary = invited["temporary_password"]
    sign_in(browser, twin, "teacher@example.org", temporary)
    wait(browser, 30).until(ec.visibility_of_element_located((By.ID, "new-password-new_password")))
    browser.find_element(By.ID, "new-password-new_password").send_keys("Classroom-Passphrase-2026")
    browser.find_element(By.ID, "new-password-confirm").send_keys("Classroom-Passphrase-2026")
    browser.find_element(By.CSS_SELECTOR, "#new-password button[type=submit]").click()
    wait(browser, 30).until(ec.visibility_of_element_located((By.ID, "nav")))
    assert not browser.find_elements(By.ID, "nav-users")  # a viewer: no admin pages
    browser.find_element(By.ID, "sign-out").click()
    sign_in(browser, twin, "teacher@example.org", temporary)  # the temporary password is spent
    wait(browser, 30).until(ec.visibility_of_element_located((By.ID, "signin-error")))
    assert not browser.find_elements(By.ID, "nav")
