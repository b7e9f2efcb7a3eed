"""``python cloud/manage.py`` as a real subprocess against a real moto server (``CLASSTOP_AWS_ENDPOINT``): create
the tables, the first admin token and an enrolment token, then use them through the services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import container
from chalicelib.config import Settings
from chalicelib.domain.token import Role
from chalicelib.errors import Unauthorized
from chalicelib.services.lms import LmsRegistration

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def manage(moto_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLASSTOP_TENANT": "clitest", "CLASSTOP_STAGE": "dev", "CLASSTOP_AWS_ENDPOINT": moto_url}
    return subprocess.run([sys.executable, str(ROOT / "cloud" / "manage.py"), *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT / "bench"))  # any cwd: the script finds its code


def test_manage_bootstraps_a_tenant(moto_url: str) -> None:
    created = manage(moto_url, "tables", "create")
    assert created.returncode == 0, created.stderr
    assert "classtop--clitest--dev--token" in created.stdout.split()
    assert manage(moto_url, "tables", "create").stdout.strip() == "all tables exist"

    admin = manage(moto_url, "--json", "token", "create", "--role", "admin", "--name", "first admin")
    assert admin.returncode == 0, admin.stderr
    issued = json.loads(admin.stdout)
    assert issued["role"] == "admin" and issued["token"].startswith("ctk_")

    scoped = manage(moto_url, "token", "create", "--role", "operator", "--name", "ops", "--site", "s1")
    assert scoped.returncode == 0 and scoped.stdout.strip().startswith("ctk_")

    enrol = manage(moto_url, "enrolment", "create", "--name", "school", "--site", "school-1")
    assert enrol.returncode == 0, enrol.stderr
    enrolment_token = enrol.stdout.strip()

    settings = Settings(tenant="clitest", stage="dev", region="us-east-1", aws_endpoint=moto_url, lms_policy="closed")
    container.reset()
    try:
        container.configure(settings=settings)
        services = container.get()
        principal = services.tokens.authenticate(f"Bearer {issued['token']}")
        assert (principal.name, principal.role) == ("first admin", Role.ADMIN)
        operator = services.tokens.authenticate(f"Bearer {scoped.stdout.strip()}")
        assert operator.site_ids == frozenset({"s1"})
        import boto3
        boto3.client("iot", endpoint_url=moto_url).create_policy(policyName=settings.iot_site_policy,
                                                                 policyDocument="{}")
        from infra.lms.entrypoint import site_key_and_csr
        _, csr = site_key_and_csr("ct-clitest-school-1")
        registration = services.lms.register(LmsRegistration("lms-1", "School", "10.0.0.1", 8000, "1.0", csr),
                                             enrolment_token)
        assert registration.site.site_id == "school-1" and registration.identity is not None
    finally:
        container.reset()


def test_manage_rejects_bad_input(moto_url: str) -> None:
    bad_role = manage(moto_url, "token", "create", "--role", "root", "--name", "x")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    blank = manage(moto_url, "token", "create", "--role", "admin", "--name", "  ")
    assert blank.returncode == 2 and "name" in blank.stderr
    env_missing = subprocess.run([sys.executable, str(ROOT / "cloud" / "manage.py"), "tables", "create"],
                                 env={k: v for k, v in os.environ.items() if k != "CLASSTOP_TENANT"},
                                 capture_output=True, text=True, timeout=60)
    assert env_missing.returncode == 2 and "CLASSTOP_TENANT" in env_missing.stderr


def test_manage_lists_and_revokes_tokens(moto_url: str) -> None:
    """``token create --ttl`` / ``token list`` / ``token revoke ID`` as a subprocess: the list shows ids, never
    secrets, and a revoked token is refused at once."""
    assert manage(moto_url, "tables", "create").returncode == 0
    made = manage(moto_url, "--json", "token", "create", "--role", "viewer", "--name", "kiosk", "--ttl", "3600")
    assert made.returncode == 0, made.stderr
    issued = json.loads(made.stdout)
    assert issued["expires_at"] - issued["created_at"] == 3600

    listed = manage(moto_url, "--json", "token", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {t["token_id"]: t for t in json.loads(listed.stdout)["tokens"]}
    assert rows[issued["token_id"]]["name"] == "kiosk" and "ctk_" not in listed.stdout

    settings = Settings(tenant="clitest", stage="dev", region="us-east-1", aws_endpoint=moto_url)
    container.reset()
    try:
        container.configure(settings=settings)
        assert container.get().tokens.authenticate(f"Bearer {issued['token']}").name == "kiosk"
        revoked = manage(moto_url, "token", "revoke", issued["token_id"])
        assert revoked.returncode == 0 and issued["token_id"] in revoked.stdout, revoked.stderr
        with pytest.raises(Unauthorized):
            container.get().tokens.authenticate(f"Bearer {issued['token']}")
    finally:
        container.reset()
    again = manage(moto_url, "token", "revoke", issued["token_id"])
    assert again.returncode == 2 and "unknown token" in again.stderr
    too_long = manage(moto_url, "token", "create", "--role", "viewer", "--name", "x", "--ttl", str(400 * 86400))
    assert too_long.returncode == 2 and "ttl_s" in too_long.stderr


def test_manage_administers_the_dashboards_accounts(moto_url: str) -> None:
    """``users invite|list|set|disable|enable`` as a subprocess against the tenant's pool in moto: each change is
    audited (actor ``manage.py``), bad input is exit 2 and changes nothing."""
    import boto3

    from infra.local.user_pool import create_pool
    from shared.names import Namespace

    pool = create_pool(boto3.client("cognito-idp", endpoint_url=moto_url, region_name="us-east-1"),
                       Namespace("clitest", "dev"))
    env = {"CLASSTOP_USER_POOL_ID": pool.pool_id, "CLASSTOP_USER_POOL_CLIENT_ID": pool.client_id,
           "CLASSTOP_REVEAL_TEMPORARY_PASSWORDS": "1"}

    def users(*args: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "CLASSTOP_TENANT": "clitest", "CLASSTOP_STAGE": "dev",
                       "CLASSTOP_AWS_ENDPOINT": moto_url, **env}
        return subprocess.run([sys.executable, str(ROOT / "cloud" / "manage.py"), *args], env=environment,
                              capture_output=True, text=True, timeout=60)

    assert users("tables", "create").returncode == 0
    invited = users("--json", "users", "invite", "Head@School.test", "--role", "operator", "--site", "s1")
    assert invited.returncode == 0, invited.stderr
    made = json.loads(invited.stdout)
    assert (made["email"], made["role"], made["sites"]) == ("head@school.test", "operator", ["s1"])
    assert len(made["temporary_password"]) >= 12
    assert users("users", "invite", "head@school.test", "--role", "viewer").returncode == 2  # exists: 409
    for bad in (["users", "invite", "not-an-email", "--role", "viewer"],
                ["users", "invite", "x@y.test", "--role", "viewer", "--site", "../etc"],
                ["users", "set", "nobody@school.test", "--role", "admin"]):
        assert users(*bad).returncode == 2, bad
    assert users("users", "set", "head@school.test", "--role", "admin", "--all-sites").returncode == 0
    assert users("users", "disable", "head@school.test").returncode == 0
    listed = json.loads(users("--json", "users", "list").stdout)["users"]
    assert [(u["email"], u["role"], u["sites"], u["enabled"]) for u in listed] == [
        ("head@school.test", "admin", None, False)]
    text = users("users", "list").stdout
    assert "head@school.test" in text and "disabled" in text and made["temporary_password"] not in text
    assert users("users", "enable", "head@school.test").returncode == 0

    settings = Settings(tenant="clitest", stage="dev", region="us-east-1", aws_endpoint=moto_url)
    container.reset()
    try:
        container.configure(settings=settings)
        entries = container.get().audit.page(since=None, until=None, limit=100).items
    finally:
        container.reset()
    actions = [(e.actor, e.action, e.result) for e in entries if e.action.startswith("user.")]
    assert ("manage.py", "user.invite", "ok") in actions and ("manage.py", "user.invite", "conflict") in actions
    assert sum(1 for a in actions if a[1] == "user.update" and a[2] == "ok") == 3
