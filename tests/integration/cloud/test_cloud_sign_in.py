"""Signing in to the dashboard over real HTTP, as the local twin runs it: moto's cognito-idp on a real moto server
playing the tenant's user pool (created by ``infra/local/user_pool.py`` as the twin creates it), its JWKS read
over HTTP, and the cloud's HTTP server with the dashboard's files and their security headers
(``infra/local/dashboard_files.py``)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from app import app
from chalice.config import Config
from chalice.local import LocalDevServer
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from chalicelib import container, models
from chalicelib.config import Settings
from infra.local.dashboard_files import local_server
from infra.local.user_pool import DEMO_ADMIN_EMAIL, LocalPool, create_demo_admin, create_pool
from shared.names import Namespace
from tests.fixtures.moto_server import start_moto

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "Demo-admin-pass1"


@dataclass
class Cloud:
    url: str
    moto: str
    pool: LocalPool
    files: Path
    cognito: Any

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw, status, answer_headers = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            raw, status, answer_headers = exc.read(), exc.code, dict(exc.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode()
        return status, parsed, answer_headers

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        status, answer, _ = self.call("POST", "/api/auth/sign-in", {"email": email, "password": password})
        assert status == 200, answer
        return dict(answer["data"])


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    moto, endpoint = start_moto()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    files = tmp_path_factory.mktemp("dashboard")
    (files / "index.html").write_text("<!doctype html><title>ClassTop</title>")
    (files / "app.js").write_text("export {};")
    (tmp_path_factory.getbasetemp() / "secret.txt").write_text("outside")
    server: LocalDevServer | None = None
    import os

    previous_totp = os.environ.get("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP")
    os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
    try:
        cognito = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1")
        pool = create_pool(cognito, Namespace("demo", "it"))
        create_demo_admin(cognito, pool, ADMIN_PASSWORD)
        settings = Settings(tenant="demo", stage="it", region="us-east-1", aws_endpoint=endpoint,
                            user_pool_id=pool.pool_id, user_pool_client_id=pool.client_id,
                            user_pool_jwks_url=f"{endpoint}/{pool.pool_id}/.well-known/jwks.json",
                            reveal_temporary_passwords=True)
        container.reset()
        container.configure(settings=settings)
        models.create_tables(settings)
        server = local_server(app, Config.create(chalice_stage="dev"), "127.0.0.1", 0, files, endpoint)
        threading.Thread(target=server.serve_forever, name="chalice-local", daemon=True).start()
        yield Cloud(f"http://127.0.0.1:{server.server.server_address[1]}", endpoint, pool, files, cognito)
    finally:
        if server is not None:
            server.shutdown()
            server.server.server_close()
        container.reset()
        moto.stop()
        if previous_totp is None:
            os.environ.pop("MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP", None)


def test_moto_serves_the_pools_jwks_and_openid_configuration(cloud: Cloud) -> None:
    with urllib.request.urlopen(f"{cloud.moto}/{cloud.pool.pool_id}/.well-known/openid-configuration") as r:
        config = json.loads(r.read())
    assert config["issuer"] == f"https://cognito-idp.us-east-1.amazonaws.com/{cloud.pool.pool_id}"
    with urllib.request.urlopen(config["jwks_uri"]) as r:
        keys = json.loads(r.read())["keys"]
    assert [k["alg"] for k in keys] == ["RS256"]


def test_the_demo_admin_signs_in_and_the_api_knows_them(cloud: Cloud) -> None:
    tokens = cloud.sign_in(DEMO_ADMIN_EMAIL, ADMIN_PASSWORD)
    assert set(tokens) == {"access_token", "id_token", "refresh_token", "expires_in"}
    for kind in ("id_token", "access_token"):
        status, me, _ = cloud.call("GET", "/api/me", token=tokens[kind])
        assert status == 200, me
        assert me["data"] == {"name": DEMO_ADMIN_EMAIL, "email": DEMO_ADMIN_EMAIL, "role": "admin", "sites": None,
                              "auth": "cognito"}
    status, agents, _ = cloud.call("GET", "/api/agents", token=tokens["id_token"])
    assert status == 200 and agents["data"]["agents"] == []
    status, refreshed, _ = cloud.call("POST", "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert status == 200 and refreshed["data"]["id_token"] != tokens["id_token"]
    assert cloud.call("GET", "/api/me", token=refreshed["data"]["id_token"])[0] == 200


def test_wrong_password_and_unknown_account_get_the_same_401(cloud: Cloud) -> None:
    wrong = cloud.call("POST", "/api/auth/sign-in", {"email": DEMO_ADMIN_EMAIL, "password": "Nope-nope-1"})
    unknown = cloud.call("POST", "/api/auth/sign-in", {"email": "nobody@classtop.test", "password": "Nope-nope-1"})
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]


@pytest.mark.parametrize("body", [{}, {"email": "a@b.test"}, {"email": "a@b.test", "password": 7},
                                  {"email": "a@b.test", "password": "x" * 300},
                                  {"email": "a@b.test", "password": "p", "extra": 1}])
def test_bad_sign_in_bodies_are_400(cloud: Cloud, body: dict[str, Any]) -> None:
    assert cloud.call("POST", "/api/auth/sign-in", body)[0] == 400


@pytest.mark.parametrize(("session", "wanted"), [("0", 400), ("0" * 20, 401), ("AYAB" + "x" * 900, 401)])
def test_a_made_up_challenge_session_is_a_4xx_never_a_5xx(cloud: Cloud, session: str, wanted: int) -> None:
    """Found by the fuzz run: a session shorter than the pool takes reached the pool's client, which refused it (a
    502); one of the right size that the pool never issued must be a 401 (AWS: NotAuthorized)."""
    for body in ({"code": "123456", "challenge": "SOFTWARE_TOKEN_MFA"},
                 {"new_password": "Teacher-pass-1", "challenge": "NEW_PASSWORD_REQUIRED"}):
        status, answer, _ = cloud.call("POST", "/api/auth/challenge", {"email": "0@0.AA", "session": session, **body})
        assert status == wanted, answer


def test_a_wrong_reset_code_is_a_422(cloud: Cloud) -> None:
    """Found: a well-formed reset with a code the pool did not send was a 400, which says "not as documented"."""
    status, answer, _ = cloud.call("POST", "/api/auth/reset", {"email": "0@0.AA", "code": "0",
                                                               "new_password": "Teacher-pass-1"})  # fmt: skip
    assert status == 422 and answer["error"]["code"] == "bad_payload", answer


def test_invite_first_sign_in_changes_the_password_then_mfa_then_disable(cloud: Cloud) -> None:
    admin = cloud.sign_in(DEMO_ADMIN_EMAIL, ADMIN_PASSWORD)["id_token"]
    email = "teacher@school-1.test"
    status, invited, _ = cloud.call("POST", "/api/users", {"email": email, "role": "operator", "sites": ["school-1"]},
                                    token=admin)
    assert status == 201, invited
    temporary = invited["data"]["temporary_password"]
    assert invited["data"]["role"] == "operator" and invited["data"]["sites"] == ["school-1"]

    first = cloud.sign_in(email, temporary)
    assert first["challenge"] == "NEW_PASSWORD_REQUIRED"
    weak = cloud.call("POST", "/api/auth/challenge", {"email": email, "challenge": "NEW_PASSWORD_REQUIRED",
                                                      "session": first["session"], "new_password": "short"})
    assert weak[0] == 422, weak  # well-formed, refused by the pool's policy (documented: not a 400)
    status, tokens, _ = cloud.call("POST", "/api/auth/challenge", {
        "email": email, "challenge": "NEW_PASSWORD_REQUIRED", "session": first["session"],
        "new_password": "Teacher-pass-1"})
    assert status == 200, tokens
    tokens = tokens["data"]
    status, me, _ = cloud.call("GET", "/api/me", token=tokens["id_token"])
    assert me["data"]["role"] == "operator" and me["data"]["sites"] == ["school-1"]
    # an operator may not list accounts, and a token scoped to a site cannot reach tenant-wide routes
    assert cloud.call("GET", "/api/users", token=tokens["id_token"])[0] == 403
    assert cloud.call("GET", "/api/audit", token=tokens["id_token"])[0] == 403

    # optional TOTP MFA: the app's secret, its first code, then every sign-in asks for a code
    status, setup, _ = cloud.call("POST", "/api/auth/mfa/setup", {"access_token": tokens["access_token"]})
    assert status == 200, setup
    totp = TOTP(_b32(setup["data"]["secret"]), 6, SHA1(), 30, enforce_key_length=False)  # moto's short secret
    import time

    code = totp.generate(time.time()).decode()
    status, verified, _ = cloud.call("POST", "/api/auth/mfa/verify",
                                     {"access_token": tokens["access_token"], "code": code})
    assert status == 200, verified
    step = cloud.sign_in(email, "Teacher-pass-1")
    assert step["challenge"] == "SOFTWARE_TOKEN_MFA"
    wrong_code = "000000" if code != "000000" else "111111"
    assert cloud.call("POST", "/api/auth/challenge", {"email": email, "challenge": "SOFTWARE_TOKEN_MFA",
                                                      "session": step["session"], "code": wrong_code})[0] == 422
    step = cloud.sign_in(email, "Teacher-pass-1")
    status, mfa_tokens, _ = cloud.call("POST", "/api/auth/challenge", {
        "email": email, "challenge": "SOFTWARE_TOKEN_MFA", "session": step["session"],
        "code": totp.generate(time.time()).decode()})
    assert status == 200 and "id_token" in mfa_tokens["data"]

    # disabled: no sign-in, no refresh, and an access token is refused at once (the account is read)
    status, patched, _ = cloud.call("PATCH", f"/api/users/{email}", {"enabled": False}, token=admin)
    assert status == 200 and patched["data"]["enabled"] is False
    assert cloud.call("POST", "/api/auth/sign-in", {"email": email, "password": "Teacher-pass-1"})[0] == 401
    assert cloud.call("POST", "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})[0] == 401
    assert cloud.call("GET", "/api/me", token=mfa_tokens["data"]["access_token"])[0] == 401

    status, listed, _ = cloud.call("GET", "/api/users", token=admin)
    assert status == 200
    assert {u["email"]: (u["role"], u["enabled"]) for u in listed["data"]["users"]} == {
        DEMO_ADMIN_EMAIL: ("admin", True), email: ("operator", False)}
    status, audit, _ = cloud.call("GET", "/api/audit", token=admin)
    actions = [(e["action"], e["actor"]) for e in audit["data"]["entries"]]
    assert ("user.invite", DEMO_ADMIN_EMAIL) in actions and ("user.update", DEMO_ADMIN_EMAIL) in actions
    assert cloud.call("DELETE", f"/api/users/{email}", token=admin)[0] == 200
    assert cloud.call("DELETE", f"/api/users/{DEMO_ADMIN_EMAIL}", token=admin)[0] == 409  # not oneself


def test_a_token_of_another_pool_is_refused(cloud: Cloud) -> None:
    """moto signs every pool's tokens with one key: only the issuer tells them apart (docs/field-notes.md)."""
    other = create_pool(cloud.cognito, Namespace("other", "it"))
    create_demo_admin(cloud.cognito, other, ADMIN_PASSWORD, email="admin@other.test")
    answer = cloud.cognito.initiate_auth(ClientId=other.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": "admin@other.test", "PASSWORD": ADMIN_PASSWORD})
    foreign = answer["AuthenticationResult"]
    for kind in ("IdToken", "AccessToken"):
        status, error, _ = cloud.call("GET", "/api/me", token=foreign[kind])
        assert status == 401 and error["error"]["code"] == "unauthorized"


def test_the_dashboard_files_come_with_the_security_headers_and_nothing_else_leaks(cloud: Cloud) -> None:
    status, body, headers = cloud.call("GET", "/")
    assert status == 200 and "ClassTop" in body
    assert headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert cloud.call("GET", "/app.js")[2]["Content-Type"].startswith("text/javascript")
    assert "Content-Security-Policy" in cloud.call("GET", "/api/health")[2]  # the API's answers too
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/.hidden", "/nope.js", "//etc/passwd"):
        assert cloud.call("GET", path)[0] == 404, path


def _b32(secret: str) -> bytes:
    import base64

    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
