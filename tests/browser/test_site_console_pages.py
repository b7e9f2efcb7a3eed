"""The site console's other pages (issue 16) in Debian's Chromium against the local twin's real LMS and agents and
a real ClassTop client process: ClassTop clients (approval, the timetable's week grid with the current period),
events and the command log (filters, new ones by push), API tokens, the audit log and agent enrolment. Each page
shows real data; a viewer finds no control; bad input shows a message and sends nothing; screenshots in both
languages, light and dark."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid as uuidlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select

from edge.agent.config_structs import MqttSettings  # what the agent applies its credentials to
from edge.agent.credentials import CA_FILE, CREDENTIALS_FILE, Credentials
from infra.local.twin import Twin
from shared import topics
from shared.mqtt import MqttClient
from shared.topics import AgentUp
from tests.browser.browser import chromium, spki_sha256, wait
from tests.browser.test_site_console import NEW_PASSWORD, SCREENSHOTS, invite, lms, screenshot, sign_in
from tests.fixtures.twins import running_twin
from tests.integration.legacy.classtop_client import FRAME
from tests.integration.legacy.conftest import CLIENT_SCRIPT

pytestmark = pytest.mark.browser

AGENTS = ("room-101", "room-102")
CLIENT = "classtop-301"  # the ClassTop desktop client's uuid

#: Before any page script: every request the page sends, as "METHOD path" in ``window.__sent`` (the kit's API
#: client binds ``fetch`` when its module loads, so this wraps it first).
RECORD = """(() => {
  const real = window.fetch;
  window.__sent = [];
  window.fetch = (url, opts) => {
    window.__sent.push(`${(opts && opts.method) || 'GET'} ${new URL(String(url), location.href).pathname}`);
    return real(url, opts);
  };
})();"""


@pytest.fixture(scope="module")
def twin() -> Iterator[Twin]:
    with running_twin("ct-console-pages-", agent_ids=AGENTS) as twin:
        yield twin


def classtop_clients(twin: Twin) -> list[dict[str, Any]]:
    return list(lms(twin, "GET", "/api/classtop/clients")["data"]["clients"])


@contextlib.contextmanager
def classtop_process(twin: Twin, uuid: str, *, approve: bool) -> Iterator[subprocess.Popen[str]]:
    """A stand-in ClassTop desktop client in its own process, connected to the twin's LMS over TLS (pending: the
    site's policy is approval), approved by the site's admin if ``approve``; killed on exit."""
    log = (twin.workdir / "logs" / f"classtop-{uuid}.log").open("w")
    args = [sys.executable, str(CLIENT_SCRIPT), "--url", twin.lms_url, "--uuid", uuid, "--reconnect-s", "0.5",
            "--cafile", str(twin.lms_ca_file)]  # fmt: skip
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not [c for c in classtop_clients(twin) if c["uuid"] == uuid]:
            assert proc.poll() is None and time.monotonic() < deadline, "the ClassTop client never reached the LMS"
            time.sleep(0.2)
        if approve:
            lms(twin, "POST", f"/api/classtop/clients/{uuid}/approve")
            while not any(c["uuid"] == uuid and c["connected"] for c in classtop_clients(twin)):
                assert proc.poll() is None and time.monotonic() < deadline, "the approved client never reconnected"
                time.sleep(0.2)
        yield proc
    finally:
        proc.kill()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def classtop(twin: Twin) -> Iterator[subprocess.Popen[str]]:
    """The stand-in ClassTop desktop client of the module, waiting for approval."""
    with classtop_process(twin, CLIENT, approve=False) as proc:
        yield proc


def driver_for(twin: Twin) -> contextlib.AbstractContextManager[WebDriver]:
    assert twin.tls is not None
    return chromium(f"--ignore-certificate-errors-spki-list={spki_sha256(twin.tls.lms.cert_file)}")


@pytest.fixture(scope="module")
def admin(twin: Twin) -> Iterator[WebDriver]:
    """An admin account, signed in once for the module, every request it sends recorded (``sent``)."""
    with driver_for(twin) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})
        sign_in(driver, twin, "boss", invite(twin, "boss", "admin"), NEW_PASSWORD)
        yield driver


def open_page(driver: WebDriver, twin: Twin, hash_path: str) -> None:
    driver.get(f"{twin.lms_url}/{hash_path}")
    driver.refresh()  # a hash change alone would not reload the page's scripts (and their language)
    wait(driver).until(ec.visibility_of_element_located((By.ID, "nav")))


def sent(driver: WebDriver) -> list[str]:
    return list(driver.execute_script("return window.__sent || []"))


def rows(driver: WebDriver, table: str) -> list[str]:
    """The texts of a table's rows, read at once (the page may re-render between two element reads)."""
    script = "return [...document.querySelectorAll(arguments[0])].map((r) => r.innerText)"
    return list(driver.execute_script(script, f"#{table} tbody tr[data-key]"))


def click(driver: WebDriver, css: str) -> None:
    driver.find_element(By.CSS_SELECTOR, css).click()


def bad_input_sends_nothing(driver: WebDriver, form: str, field: str, text: str, path: str) -> None:
    """``text`` typed into ``field`` of ``form`` and submitted: a message beside the field, no request to
    ``path``."""
    before = [s for s in sent(driver) if path in s]
    box = driver.find_element(By.ID, f"{form}-{field}")
    empty(box)
    box.send_keys(text)
    click(driver, f"#{form} button[type=submit]")
    wait(driver).until(lambda d: d.find_element(By.ID, f"{form}-{field}").get_attribute("aria-invalid") == "true")
    assert driver.find_element(By.ID, f"{form}-{field}-msg").text.strip()
    assert [s for s in sent(driver) if path in s] == before
    empty(box)


def empty(box: WebElement) -> None:
    """Clear a field as a person does (``clear()`` fires no input event, so the page would not see it)."""
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)


def now_period() -> tuple[int, str, str]:
    """Today (1 = Monday) and a period around now within today."""
    now = datetime.now()
    if now.hour == 23 and now.minute >= 58:  # the period must hold "now" until the page is read
        time.sleep(130)
        now = datetime.now()
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0))
    end = min(now + timedelta(minutes=30), now.replace(hour=23, minute=59))
    return now.isoweekday(), start.strftime("%H:%M"), end.strftime("%H:%M")


#: a course name as any LAN host may sync it: shown as text, never run
CHINESE = 'Chinese<img src=x onerror="window.__xss = 1">'


def sync_timetable(twin: Twin) -> None:
    """What the ClassTop client uploads once approved (POST /api/sync, no credentials, as it does)."""
    day, start, end = now_period()
    week = [
        (10 + 10 * d + i, (d + i) % 3 + 1, d, f"{8 + i:02d}:00", f"{8 + i:02d}:45")
        for d in range(1, 6)
        if d != day
        for i in range(3)
    ]  # a school morning on every other weekday
    body = {
        "client_uuid": CLIENT,
        "courses": [{"id": 1, "name": "Maths", "teacher": "Ms. Wang", "color": "#6750A4"},
                    {"id": 2, "name": "Physics", "teacher": "Mr. Li", "location": "Lab 2"},
                    {"id": 3, "name": CHINESE, "teacher": "Ms. Zhao"}],
        "schedule_entries": [{"id": 1, "course_id": 1, "day_of_week": day, "start_time": start, "end_time": end},
                             *({"id": i, "course_id": c, "day_of_week": d, "start_time": s, "end_time": e}
                               for i, c, d, s, e in week)],
    }  # fmt: skip
    request = urllib.request.Request(twin.lms_url + "/api/sync", method="POST", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, context=twin.lms_ssl_context(), timeout=30) as answer:
        assert json.loads(answer.read())["success"] is True


def test_classtop_clients_approval_and_the_timetable_week_grid(twin: Twin, classtop: Any, admin: WebDriver) -> None:
    open_page(admin, twin, "#/classtop")
    row = (By.CSS_SELECTOR, f'#classtop-clients tr[data-key="{CLIENT}"]')
    wait(admin, 30).until(ec.text_to_be_present_in_element(row, "waiting for approval"))
    assert admin.find_element(By.ID, "classtop-policy").get_attribute("data-policy") == "approval"
    click(admin, f'#classtop-clients tr[data-key="{CLIENT}"] button[data-action="approve"]')
    wait(admin, 30).until(ec.text_to_be_present_in_element(row, "approved"))
    decided = next(c for c in lms(twin, "GET", "/api/classtop/clients")["data"]["clients"] if c["uuid"] == CLIENT)
    assert decided["approval"] == "approved" and decided["decided_by"] == "user:boss", decided
    sync_timetable(twin)
    click(admin, f'#classtop-clients tr[data-key="{CLIENT}"] a')
    wait(admin, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#timetable .wg-entry")))
    entries = admin.find_elements(By.CSS_SELECTOR, "#timetable .wg-entry")
    assert {e.find_element(By.TAG_NAME, "strong").text for e in entries} == {"Maths", "Physics", CHINESE}
    current = admin.find_elements(By.CSS_SELECTOR, "#timetable .wg-day.today .wg-entry.current")
    assert len(current) == 1 and "Maths" in current[0].text  # today's current period is marked
    assert "yes" in admin.find_element(By.ID, "classtop-info").text  # connected
    assert admin.execute_script("return window.__xss") is None and not admin.find_elements(By.CSS_SELECTOR, "main img")


def options(driver: WebDriver, select: tuple[str, str]) -> set[str]:
    return {
        o.get_attribute("value") or ""
        for o in Select(wait(driver, 30).until(ec.presence_of_element_located(select))).options
    }


def test_the_command_picker_of_a_classtop_client_offers_only_what_it_runs(
    twin: Twin, classtop: Any, admin: WebDriver
) -> None:
    """Even an admin (offered ``exec`` for an agent) is offered for a ClassTop desktop client only its commands."""
    lms(twin, "POST", f"/api/classtop/clients/{CLIENT}/approve")
    open_page(admin, twin, "#/agents/room-101")
    picker = (By.ID, "agent-command-command")
    agent = {
        o.get_attribute("value") for o in Select(wait(admin, 30).until(ec.presence_of_element_located(picker))).options
    }
    assert {"exec", "get_metrics"} <= agent  # the same page offers them to an agent
    open_page(admin, twin, f"#/agents/{CLIENT}")
    wait(admin, 30).until(ec.text_to_be_present_in_element((By.ID, "agent-title"), CLIENT))
    offered = {
        o.get_attribute("value") for o in Select(wait(admin, 30).until(ec.presence_of_element_located(picker))).options
    }
    catalogue = {c["name"] for c in lms(twin, "GET", "/api/commands/catalog")["data"]["kinds"]["legacy"]}
    assert offered == catalogue and "camera_start_preview" in offered, offered
    assert "exec" not in offered and "get_metrics" not in offered


def previewing(twin: Twin, uuid: str) -> bool:
    answer = lms(twin, "POST", f"/api/clients/{uuid}/command", {"command": "camera_get_status", "params": {}})
    return bool(answer["data"]["previewing"])


def test_the_camera_preview_of_a_classtop_client(twin: Twin) -> None:
    """Preview sends camera_start_preview and shows the polled latest frame; Stop, signing out and leaving the page
    send camera_stop_preview; a bad index is refused before anything is sent; an offline client gets a clear
    message. Someone without the cameras permission is offered no preview."""
    uuid = str(uuidlib.uuid4())
    src = "const i = document.getElementById('preview-img'); return i ? i.getAttribute('src') : ''"
    password = lms(twin, "POST", "/api/accounts", {"username": "watcher", "role": "operator", "cameras": True})
    with classtop_process(twin, uuid, approve=True) as client, driver_for(twin) as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})
        sign_in(driver, twin, "watcher", password["data"]["one_time_password"], NEW_PASSWORD)
        open_page(driver, twin, f"#/classtop/{uuid}")
        toggle = wait(driver, 30).until(ec.element_to_be_clickable((By.ID, "preview-toggle")))
        assert driver.find_element(By.ID, "preview-index").get_attribute("value") == "0"

        # an index out of range: a message, nothing sent
        index = driver.find_element(By.ID, "preview-index")
        empty(index)
        index.send_keys("64")
        toggle.click()
        wait(driver).until(ec.text_to_be_present_in_element((By.ID, "preview-note"), "from 0 to 63"))
        assert not [s for s in sent(driver) if s.endswith("/command")]
        empty(index)
        index.send_keys("0")

        # Preview: the client's frame in a data: URL, with its camera index in the caption
        toggle.click()
        wait(driver, 30).until(lambda d: d.execute_script(src) == f"data:image/jpeg;base64,{FRAME}")
        wait(driver).until(ec.text_to_be_present_in_element((By.ID, "preview-caption"), "camera 0"))
        assert driver.find_element(By.ID, "preview-toggle").text == "Stop"
        assert previewing(twin, uuid) is True

        # Stop: camera_stop_preview reached the client, the image is gone
        driver.find_element(By.ID, "preview-toggle").click()
        wait(driver).until(ec.text_to_be_present_in_element((By.ID, "preview-note"), "Preview stopped"))
        assert driver.find_element(By.ID, "preview-toggle").text == "Preview" and not driver.execute_script(src)
        assert previewing(twin, uuid) is False

        # leaving the page stops it; so does signing out
        driver.find_element(By.ID, "preview-toggle").click()
        wait(driver, 30).until(lambda d: d.execute_script(src) == f"data:image/jpeg;base64,{FRAME}")
        driver.find_element(By.ID, "nav-fleet").click()
        wait(driver, 15).until(lambda _d: previewing(twin, uuid) is False)
        open_page(driver, twin, f"#/classtop/{uuid}")
        wait(driver, 30).until(ec.element_to_be_clickable((By.ID, "preview-toggle"))).click()
        wait(driver, 30).until(lambda d: d.execute_script(src) == f"data:image/jpeg;base64,{FRAME}")
        driver.find_element(By.ID, "sign-out").click()
        wait(driver).until(ec.visibility_of_element_located((By.ID, "signin-username")))
        wait(driver, 15).until(lambda _d: previewing(twin, uuid) is False)

        # the client goes away: Preview says so
        sign_in(driver, twin, "watcher", NEW_PASSWORD)
        open_page(driver, twin, f"#/classtop/{uuid}")
        wait(driver, 30).until(ec.element_to_be_clickable((By.ID, "preview-toggle")))
        client.kill()
        client.wait(10)
        driver.find_element(By.ID, "preview-toggle").click()
        wait(driver, 30).until(ec.text_to_be_present_in_element((By.ID, "preview-note"), "the client is offline"))
        assert driver.find_element(By.ID, "preview-toggle").text == "Preview" and not driver.execute_script(src)
        logs: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]
        thrown = [e for e in logs if e.get("level") == "SEVERE" and e.get("source") != "network"]
        assert not thrown, thrown  # refused requests are logged by Chromium (network); nothing the page threw

    # an operator without the cameras permission: a sentence, no button
    with driver_for(twin) as driver:
        sign_in(driver, twin, "blind", invite(twin, "blind", "operator"), NEW_PASSWORD)
        open_page(driver, twin, f"#/classtop/{CLIENT}")
        wait(driver, 30).until(ec.presence_of_element_located((By.ID, "preview-none")))
        assert not driver.find_elements(By.ID, "preview-toggle")


def stolen(twin: Twin, agent_id: str) -> MqttClient:
    """The agent stopped and its broker credentials used to report events as it would."""
    twin.agents[agent_id].stop()
    state = twin.workdir / "agents" / agent_id / "state"
    creds = Credentials(**json.loads((state / CREDENTIALS_FILE).read_text()))
    client = MqttClient(creds.apply(MqttSettings(host="127.0.0.1", port=1, client_id=agent_id), state / CA_FILE),
                        name=f"events-{agent_id}")  # fmt: skip
    client.start(wait_s=10.0)
    return client


def report(client: MqttClient, agent_id: str, kind: str, severity: str, message: str) -> None:
    body = {"type": "event", "timestamp": time.time(), "kind": kind, "severity": severity, "message": message,
            "data": {"mount": "/"}}  # fmt: skip
    client.publish(topics.agent_up(agent_id, AgentUp.EVENT), json.dumps(body).encode(), qos=1).wait_for_publish(10)


def test_events_and_the_command_log_with_filters_and_push(twin: Twin, admin: WebDriver) -> None:
    client = stolen(twin, "room-102")
    try:
        report(client, "room-102", "disk.full", "warning", "disk / is 97% full")
        lms(twin, "POST", "/api/clients/room-101/command", {"command": "ping", "params": {}})
        open_page(admin, twin, "#/events")
        wait(admin, 30).until(lambda d: any("disk.full" in r for r in rows(d, "events")))
        wait(admin, 30).until(lambda d: any("ping" in r and "room-101" in r for r in rows(d, "commands")))
        # new ones arrive by push, without a reload
        marker = admin.execute_script("window.__same = Math.random(); return window.__same")
        report(client, "room-102", "cctv.frozen", "error", "camera 0 frozen")
        wait(admin, 30).until(lambda d: any("cctv.frozen" in r and "new" in r for r in rows(d, "events")))
        commands = len(rows(admin, "commands"))
        lms(twin, "POST", "/api/clients/room-101/command", {"command": "get_info", "params": {}})
        wait(admin, 30).until(lambda d: any("get_info" in r for r in rows(d, "commands")))
        assert len(rows(admin, "commands")) == commands + 1
        assert admin.execute_script("return window.__same") == marker
        # the filters: a kind prefix (read from the LMS), then bad input that sends nothing
        admin.find_element(By.ID, "event-filter-kind").send_keys("disk.*")
        click(admin, "#event-filter button[type=submit]")
        wait(admin, 30).until(lambda d: rows(d, "events") and all("disk.full" in r for r in rows(d, "events")))
        assert any(s.startswith("GET /api/events") for s in sent(admin))
        bad_input_sends_nothing(admin, "event-filter", "kind", "Disk Full!", "/api/events")
        bad_input_sends_nothing(admin, "event-filter", "agent", "room 101; drop", "/api/events")
        bad_input_sends_nothing(admin, "command-filter", "limit", "5000", "/api/commands")
        Select(admin.find_element(By.ID, "event-filter-severity")).select_by_value("error")
        click(admin, "#event-filter button[type=submit]")
        wait(admin, 30).until(lambda d: rows(d, "events") and all("cctv.frozen" in r for r in rows(d, "events")))
    finally:
        client.stop()
        twin.agents["room-102"].restart()


#: the key of the first row of a table (arguments[0]) whose text holds arguments[1], else null
KEY_OF = """return ([...document.querySelectorAll(`${arguments[0]} tbody tr[data-key]`)]
  .find((r) => r.innerText.includes(arguments[1])) || { dataset: { key: null } }).dataset.key;"""


def test_api_tokens_made_rotated_and_revoked(twin: Twin, admin: WebDriver) -> None:
    open_page(admin, twin, "#/tokens")
    wait(admin).until(lambda d: rows(d, "tokens") is not None)
    bad_input_sends_nothing(admin, "token-create", "name", " ", "/api/tokens")
    admin.find_element(By.ID, "token-create-name").send_keys("backup-script")
    Select(admin.find_element(By.ID, "token-create-role")).select_by_value("operator")
    click(admin, "#token-create button[type=submit]")
    secret = wait(admin, 30).until(ec.visibility_of_element_located((By.ID, "new-token-secret"))).text
    assert works(twin, secret)
    old_id = wait(admin, 30).until(lambda d: d.execute_script(KEY_OF, "#tokens", "backup-script"))
    click(admin, f'#tokens tr[data-key="{old_id}"] button[data-action="rotate"]')
    click(admin, "#confirm-ok")
    wait(admin, 30).until(lambda d: d.find_element(By.ID, "new-token-secret").text not in ("", secret))
    rotated = admin.find_element(By.ID, "new-token-secret").text
    assert works(twin, rotated) and works(twin, secret)  # the old one works until it is revoked
    click(admin, f'#tokens tr[data-key="{old_id}"] button[data-action="revoke"]')
    click(admin, "#confirm-ok")
    wait(admin, 30).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, f'#tokens tr[data-key="{old_id}"]'), "revoked")
    )
    assert not works(twin, secret) and works(twin, rotated)


def works(twin: Twin, token: str) -> bool:
    request = urllib.request.Request(twin.lms_url + "/api/clients/", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, context=twin.lms_ssl_context(), timeout=30) as answer:
            return bool(answer.status == 200)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401, exc
        return False


def test_the_audit_log_with_filters(twin: Twin, admin: WebDriver) -> None:
    lms(twin, "POST", "/api/tokens", {"name": "audited", "role": "viewer"})
    made = lms(twin, "GET", "/api/audit?action=token:create")["data"]["entries"]
    actor = next(e["actor"] for e in made if str(e["target"]).startswith("audited#"))  # the twin's admin token
    open_page(admin, twin, "#/audit")
    wait(admin, 30).until(lambda d: any("token:create" in r for r in rows(d, "audit")))
    bad_input_sends_nothing(admin, "audit-filter", "action", "token create!", "/api/audit")
    admin.find_element(By.ID, "audit-filter-action").send_keys("token:create")
    admin.find_element(By.ID, "audit-filter-actor").send_keys(actor)
    click(admin, "#audit-filter button[type=submit]")
    wait(admin, 30).until(lambda d: rows(d, "audit") and all("token:create" in r and actor in r
                                                             for r in rows(d, "audit")))  # fmt: skip
    assert any("audited" in r for r in rows(admin, "audit"))
    assert any("/api/audit" in s for s in sent(admin))


#: The install command built from a token, an address and a fingerprint that carry shell syntax.
INJECTIONS = """const done = arguments[arguments.length - 1];
import('/console/pages/enrolment.js').then((m) => done([
  m.installCommand('https://lms.school:8000', 'cta_abcdefgh; rm -rf /', null),
  m.installCommand('https://lms.school:8000/$(id)', 'cta_abcdefgh', null),
  m.installCommand('https://lms.school:8000', 'cta_abcdefgh', 'sha256:00; id'),
  m.installCommand('https://lms.school:8000', 'cta_abcdefgh', null),
]));"""


def test_enrolment_token_fingerprint_and_install_command(twin: Twin, admin: WebDriver) -> None:
    open_page(admin, twin, "#/enrolment")
    ca_hash = lms(twin, "GET", "/api/enrolment-tokens")["data"]["ca_hash"]
    wait(admin, 30).until(ec.text_to_be_present_in_element((By.ID, "ca-hash"), ca_hash))
    bad_input_sends_nothing(admin, "enrol-create", "hours", "0", "/api/enrolment-tokens")
    bad_input_sends_nothing(admin, "enrol-create", "max_uses", "two", "/api/enrolment-tokens")
    admin.find_element(By.ID, "enrol-create-hours").send_keys("2")
    admin.find_element(By.ID, "enrol-create-max_uses").send_keys("3")
    admin.find_element(By.ID, "enrol-create-note").send_keys("room 204")
    click(admin, "#enrol-create button[type=submit]")
    token = wait(admin, 30).until(ec.visibility_of_element_located((By.ID, "enrol-token"))).text
    assert admin.find_element(By.ID, "enrol-ca-hash").text == ca_hash
    command = admin.find_element(By.ID, "enrol-command").text
    assert command.startswith("python3 -m venv /opt/classtop-agent/venv && ")
    assert command.endswith(
        f"/opt/classtop-agent/venv/bin/classtop-agent enrol {twin.lms_url} {token} --ca-hash {ca_hash}"
    )
    # nothing but the LMS's own characters gets into the command line a technician pastes into a root shell
    built = admin.execute_async_script(INJECTIONS)
    assert built[0] is None and built[1] is None and built[2] == built[3], built
    # the token shown is a real one: the LMS enrols a PC with it
    body = json.dumps({"token": token, "agent_id": "pc-204", "hostname": "pc-204"}).encode()
    answer = urllib.request.Request(twin.lms_url + "/api/enroll", method="POST", data=body,
                                    headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(answer, context=twin.lms_ssl_context(), timeout=30) as reply:
        assert json.loads(reply.read())["data"]["agent_id"] == "pc-204"
    open_page(admin, twin, "#/enrolment")
    wait(admin, 30).until(lambda d: any("pc-204" in r for r in rows(d, "enrolled")))
    assert any("room 204" in r and "1 / 3" in r for r in rows(admin, "enrol-tokens"))


def test_a_viewer_finds_no_control(twin: Twin, classtop: Any) -> None:
    with driver_for(twin) as viewer:
        sign_in(viewer, twin, "looker", invite(twin, "looker", "viewer"), NEW_PASSWORD)
        for page in ("tokens", "audit", "enrolment", "accounts"):
            assert not viewer.find_elements(By.ID, f"nav-{page}")
        open_page(viewer, twin, "#/classtop")
        wait(viewer, 30).until(lambda d: rows(d, "classtop-clients"))
        assert not viewer.find_elements(By.CSS_SELECTOR, "#classtop-clients button[data-action]")
        click(viewer, f'#classtop-clients tr[data-key="{CLIENT}"] a')
        wait(viewer, 30).until(ec.presence_of_element_located((By.ID, "classtop-info")))
        assert not viewer.find_elements(By.CSS_SELECTOR, "button[data-action]")
        open_page(viewer, twin, "#/events")
        wait(viewer, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#commands tbody tr")))
        assert not viewer.find_elements(By.CSS_SELECTOR, "main button[data-action], main input[type=checkbox]")
        for page in ("tokens", "audit", "enrolment"):
            open_page(viewer, twin, f"#/{page}")
            assert wait(viewer).until(lambda d: d.find_element(By.CSS_SELECTOR, "main h1").text) == "Page not found"
            assert not viewer.find_elements(By.CSS_SELECTOR, "main form")


def test_screenshots_of_the_pages(twin: Twin, classtop: Any, admin: WebDriver) -> None:
    """docs/screenshots/console-<page>-<lang>[-dark][-tablet].png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for lang, dark in (("en", False), ("zh-CN", False), ("en", True), ("zh-CN", True)):
        suffix = f"{lang}{'-dark' if dark else ''}"
        admin.execute_script(
            "localStorage.setItem('ct.lang', arguments[0]);localStorage.setItem('ct.theme', arguments[1]);",
            lang,
            "dark" if dark else "light",
        )
        for name, path, ready in (
            ("classtop", "#/classtop", "#classtop-clients tr[data-key]"),
            ("timetable", f"#/classtop/{CLIENT}", "#timetable"),
            ("events", "#/events", "#commands tr[data-key]"),
            ("tokens", "#/tokens", "#tokens tr[data-key]"),
            ("audit", "#/audit", "#audit tr[data-key]"),
            ("enrolment", "#/enrolment", "#enrol-tokens tr[data-key]"),
        ):
            open_page(admin, twin, path)
            wait(admin, 30).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
            if name == "enrolment":  # with a token made: the fingerprint and the install command
                click(admin, "#enrol-create button[type=submit]")
                made = wait(admin, 30).until(ec.visibility_of_element_located((By.ID, "enrol-made")))
                admin.execute_script("window.scrollTo(0, arguments[0].offsetTop - 140)", made)
            screenshot(admin, f"console-{name}-{suffix}")
