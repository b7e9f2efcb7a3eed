"""Signing in to the site console against the real LMS process: the first admin, cookies, CSRF, lock-out, accounts.

Who can reach these paths: any host on the school LAN (sign-in is open by design), a signed-in person of any
role, and a page of another origin in that person's browser (CSRF). Each is tried here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import subprocess
import sys

import httpx
import pytest

from edge.lms.auth.accounts import FIRST_ADMIN, MAX_FAILURES
from edge.lms.auth.sessions import COOKIE, CSRF_HEADER
from tests.integration.lms.lms_harness import REPO, LmsFactory, LmsProcess, eventually

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a long new passphrase"


def first_password(lms: LmsProcess) -> str:
    """The one-time password the first start printed in the LMS's log."""
    found = eventually(lambda: re.search(r"one-time password (\S+) \(also in", lms.log()), 10, what="first admin")
    return str(found.group(1))


def browser(lms: LmsProcess) -> httpx.Client:
    """A client with a cookie jar and no bearer token: what a browser is to the LMS."""
    return httpx.Client(base_url=lms.base_url, timeout=30.0)


def sign_in(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/api/session", json={"username": username, "password": password})


def signed_in_admin(lms: LmsProcess) -> tuple[httpx.Client, str]:
    """The first admin, signed in with its password changed; the client and its CSRF token."""
    client = browser(lms)
    r = sign_in(client, FIRST_ADMIN, first_password(lms))
    assert r.status_code == 200, r.text
    csrf = r.json()["data"]["csrf_token"]
    r = client.post("/api/session/password", headers={CSRF_HEADER: csrf},
                    json={"current_password": first_password(lms), "new_password": NEW_PASSWORD})  # fmt: skip
    assert r.status_code == 200, r.text
    return client, csrf


def test_the_first_admin_signs_in_with_the_logged_one_time_password_and_must_change_it_first(
    lms_factory: LmsFactory,
) -> None:
    lms = lms_factory().start()
    password = first_password(lms)
    with browser(lms) as client:
        r = sign_in(client, FIRST_ADMIN, password)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["must_change"] and data["user"]["role"] == "admin" and data["csrf_token"]
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert password not in cookie
        # until the password changes, nothing else is allowed (reads neither)
        r = client.get("/api/clients/")
        assert r.status_code == 403 and "one-time password" in r.json()["error"]
        assert client.get("/api/session").json()["data"]["must_change"] is True
        r = client.post("/api/session/password", headers={CSRF_HEADER: data["csrf_token"]},
                        json={"current_password": password, "new_password": "short"})  # fmt: skip
        assert r.status_code == 422 and "new_password" in r.json()["error"], r.text
        r = client.post("/api/session/password", headers={CSRF_HEADER: data["csrf_token"]},
                        json={"current_password": password, "new_password": NEW_PASSWORD})  # fmt: skip
        assert r.status_code == 200, r.text
        assert client.get("/api/clients/").status_code == 200
        r = client.delete("/api/session", headers={CSRF_HEADER: data["csrf_token"]})
        assert r.status_code == 200 and r.json()["data"]["signed_out"]
        assert client.get("/api/clients/").status_code == 401
    with browser(lms) as again:
        assert sign_in(again, FIRST_ADMIN, password).status_code == 401  # the one-time password is spent
        assert sign_in(again, FIRST_ADMIN, NEW_PASSWORD).status_code == 200
    audit = lms.http.get("/api/audit", params={"limit": 50}).json()["data"]
    actions = [(row["action"], row["result"]) for row in audit["entries"]]
    assert ("session:sign_in", "ok") in actions and ("account:password", "ok") in actions


def test_a_cookie_session_changes_nothing_without_its_csrf_token(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    client, csrf = signed_in_admin(lms)
    with contextlib.closing(client):
        body = {"name": "script", "role": "viewer"}
        for headers in ({}, {CSRF_HEADER: "forged"}, {CSRF_HEADER: csrf[:-1]}):
            r = client.post("/api/tokens", json=body, headers=headers)
            assert r.status_code == 403 and CSRF_HEADER in r.json()["error"], r.text
        assert lms.http.get("/api/tokens").json()["data"]["count"] == 1  # only the harness's own token
        assert client.post("/api/tokens", json=body, headers={CSRF_HEADER: csrf}).status_code == 201
        assert client.get("/api/tokens").status_code == 200  # reads need no CSRF token


def test_sign_in_refuses_form_posts_wrong_passwords_alike_and_locks_out(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    with browser(lms) as client:
        r = client.post("/api/session", content='{"username":"admin","password":"x"}',
                        headers={"content-type": "text/plain"})  # fmt: skip
        assert r.status_code in (415, 422)  # a cross-site form can only send text/plain or form bodies
        unknown = sign_in(client, "nobody-here", "some password")
        wrong = sign_in(client, FIRST_ADMIN, "some password")
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.json()["error"] == wrong.json()["error"]
        for _ in range(MAX_FAILURES - 1):
            r = sign_in(client, FIRST_ADMIN, "still wrong!")
        assert r.status_code == 401 and "locked" in r.json()["error"]
        r = sign_in(client, FIRST_ADMIN, first_password(lms))
        assert r.status_code == 401 and "locked" in r.json()["error"]  # the right password waits for the lock too
        r = client.post("/api/session", json={"username": "a", "password": "p" * 10_000})
        assert r.status_code == 422  # bounded before any hashing
        assert client.post("/api/session", json={"username": "a", "password": "p", "role": "admin"}).status_code == 422
    # an admin (here a token) lifts the lock at once
    accounts = lms.http.get("/api/accounts").json()["data"]["accounts"]
    (admin,) = [a for a in accounts if a["username"] == FIRST_ADMIN]
    assert admin["locked"]
    assert lms.http.patch(f"/api/accounts/{admin['id']}", json={"unlock": True}).status_code == 200
    with browser(lms) as client:
        assert sign_in(client, FIRST_ADMIN, first_password(lms)).status_code == 200


def test_sign_in_attempts_are_rate_limited_per_address(lms_factory: LmsFactory) -> None:
    lms = lms_factory(settings={"console": {"sign_ins_per_minute": 3}}).start()
    with browser(lms) as client:
        codes = [sign_in(client, f"user{i}", "some password").status_code for i in range(8)]
        r = sign_in(client, FIRST_ADMIN, first_password(lms))
    assert codes[:3] == [401, 401, 401] and 429 in codes  # a burst of 3, then one every 20 s
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # the right password waits as well


def test_accounts_are_invited_with_roles_and_a_viewer_session_can_only_read(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    admin, csrf = signed_in_admin(lms)
    with contextlib.closing(admin):
        r = admin.post("/api/accounts", headers={CSRF_HEADER: csrf}, json={"username": "wall", "role": "viewer"})
        assert r.status_code == 201, r.text
        invited = r.json()["data"]
        assert invited["must_change"] and len(invited["one_time_password"]) >= 12
        r = admin.post("/api/accounts", headers={CSRF_HEADER: csrf}, json={"username": "WALL", "role": "admin"})
        assert r.status_code == 409
        for bad in ({"username": "", "role": "viewer"}, {"username": "x y", "role": "viewer"},
                    {"username": "ok", "role": "root"}, {"username": "ok", "role": "viewer", "extra": 1}):
            assert admin.post("/api/accounts", headers={CSRF_HEADER: csrf}, json=bad).status_code == 422, bad
        names = [a["username"] for a in admin.get("/api/accounts").json()["data"]["accounts"]]
        assert names == [FIRST_ADMIN, "wall"]
        # the admin cannot lock the site out
        me = admin.get("/api/session").json()["data"]["user"]["id"]
        r = admin.patch(f"/api/accounts/{me}", headers={CSRF_HEADER: csrf}, json={"disabled": True})
        assert r.status_code == 409 and "own account" in r.json()["error"]
        r = admin.delete(f"/api/accounts/{me}", headers={CSRF_HEADER: csrf})
        assert r.status_code == 409
        r = admin.patch("/api/accounts/99999", headers={CSRF_HEADER: csrf}, json={"cameras": True})
        assert r.status_code == 404
    with browser(lms) as wall:
        r = sign_in(wall, "wall", invited["one_time_password"])
        wall_csrf = r.json()["data"]["csrf_token"]
        wall.post("/api/session/password", headers={CSRF_HEADER: wall_csrf},
                  json={"current_password": invited["one_time_password"], "new_password": NEW_PASSWORD})  # fmt: skip
        assert wall.get("/api/clients/").status_code == 200
        assert wall.get("/api/accounts").status_code == 403
        r = wall.post("/api/tokens", headers={CSRF_HEADER: wall_csrf}, json={"name": "mine", "role": "admin"})
        assert r.status_code == 403
        r = wall.post("/api/accounts", headers={CSRF_HEADER: wall_csrf}, json={"username": "me2", "role": "admin"})
        assert r.status_code == 403
        # disabling the account ends its session at once
        wall_id = next(a["id"] for a in lms.http.get("/api/accounts").json()["data"]["accounts"]
                       if a["username"] == "wall")  # fmt: skip
        assert lms.http.patch(f"/api/accounts/{wall_id}", json={"disabled": True}).status_code == 200
        assert wall.get("/api/clients/").status_code == 401


def test_the_cli_manages_accounts_beside_the_running_lms(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge.lms", "--config", str(lms.config_path), "account", *args],
                              cwd=REPO, env=lms.env, capture_output=True, text=True, timeout=60)  # fmt: skip

    made = cli("create", "tech", "--role", "operator")
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip()
    assert "one-time" in made.stderr
    listed = cli("list")
    assert "tech\toperator" in listed.stdout and FIRST_ADMIN in listed.stdout
    with browser(lms) as client:
        assert sign_in(client, "tech", password).json()["data"]["must_change"] is True
    reset = cli("reset", "tech")
    assert reset.returncode == 0 and reset.stdout.strip() != password
    assert cli("disable", "tech").returncode == 0
    with browser(lms) as client:
        assert "disabled" in sign_in(client, "tech", reset.stdout.strip()).json()["error"]
    assert cli("enable", "tech").returncode == 0 and cli("unlock", "tech").returncode == 0
    bad = cli("create", "bad name", "--role", "viewer")
    assert bad.returncode != 0 and "user name" in bad.stderr
    assert cli("reset", "nobody").returncode != 0


def test_the_console_pages_are_served_with_strict_security_headers(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    with browser(lms) as client:
        page = client.get("/")
        assert page.status_code == 200 and 'type="importmap"' in page.text
        for former in ("/console", "/console/", "/console/index.html"):  # the console's address before it was /
            moved = client.get(former)
            assert moved.status_code == 308 and moved.headers["location"] == "/", former
        csp = page.headers["content-security-policy"]
        inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.text, re.S)
        digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp and "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        for path in ("/common/kit.css", "/vendor/MANIFEST.json", "/console/app.js"):
            r = client.get(path)
            assert r.status_code == 200 and "content-security-policy" in r.headers, path
        assert client.get("/console/../../edge/lms/lms.example.toml").status_code == 404  # no way out of web/
