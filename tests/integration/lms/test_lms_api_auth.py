"""Local authentication and the audit log against the real LMS process, site broker and simulated agents."""

from __future__ import annotations

import re
import stat
import subprocess
import sys

import httpx
import pytest

from tests.integration.lms.lms_harness import REPO, AgentFactory, LmsFactory, LmsProcess

pytestmark = pytest.mark.integration

#: Paths that need no bearer token: the health check, the enrolment exchange (its body carries the enrolment
#: token) and the site CA agents fetch before it, /metrics from loopback, and the ClassTop clients' sync
#: endpoints (they send no credentials).
PUBLIC = {
    "/api/health", "/api/enroll", "/api/enroll/ca", "/metrics", "/api/clients/register", "/api/sync",
    "/api/clients/{uuid}/courses", "/api/clients/{uuid}/schedule", "/api/session",
}  # fmt: skip


def client(lms: LmsProcess, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=lms.base_url, timeout=30.0, headers=headers)


def make_token(lms: LmsProcess, role: str, name: str) -> str:
    r = lms.http.post("/api/tokens", json={"name": name, "role": role})
    assert r.status_code == 201, r.text
    token: str = r.json()["data"]["token"]
    return token


def test_every_path_but_health_refuses_a_missing_or_bad_token(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    spec = httpx.get(f"{lms.base_url}/openapi.json").json()
    checked = 0
    with client(lms, None) as anon, client(lms, "ctl_not-a-real-token-at-all") as bad:
        for path, methods in spec["paths"].items():
            if path in PUBLIC:
                continue
            url = re.sub(r"\{[^}]+\}", "x1", path)
            for method in methods:
                for c in (anon, bad):
                    r = c.request(method.upper(), url, json={})
                    if r.status_code == 501 and (path.startswith(("/api/enrolment", "/api/enrollment"))
                                                 or path.endswith("/credentials")):
                        continue  # enrolment is off in this LMS (no dynsec): those paths answer 501 first
                    assert r.status_code == 401, (method, path, r.status_code, r.text)
                    assert r.json()["error_code"] == "unauthorized"
                    assert r.headers["www-authenticate"] == "Bearer"
                    checked += 1
    assert checked >= 40
    assert httpx.get(f"{lms.base_url}/api/health").status_code == 200


def test_roles_viewer_operator_admin(lms_factory: LmsFactory, agents: AgentFactory) -> None:
    lms = lms_factory().start()
    agents("agent-1").start()
    lms.wait_agent("agent-1")
    viewer = client(lms, make_token(lms, "viewer", "wall screen"))
    operator = client(lms, make_token(lms, "operator", "teacher"))
    cmd = {"command": "ping"}
    exec_cmd = {"command": "exec", "params": {"cmd": "echo hi"}}

    assert viewer.get("/api/clients/").status_code == 200
    assert viewer.get("/api/settings/agent-1").status_code == 200
    r = viewer.post("/api/clients/agent-1/command", json=cmd)
    assert r.status_code == 403 and r.json()["error_code"] == "forbidden"
    assert viewer.put("/api/settings/agent-1/theme_mode", json={"value": "light"}).status_code == 403
    assert viewer.get("/api/tokens").status_code == 403
    assert viewer.get("/api/audit").status_code == 403

    assert operator.post("/api/clients/agent-1/command", json=cmd).status_code == 200
    assert operator.put("/api/settings/agent-1/theme_mode", json={"value": "light"}).status_code == 200
    r = operator.post("/api/clients/agent-1/command", json=exec_cmd)
    assert r.status_code == 403 and "admin" in r.json()["error"]
    r = operator.post("/api/commands/batch", json={**exec_cmd, "target": {"all": True}})
    assert r.status_code == 403
    assert operator.post("/api/tokens", json={"name": "x", "role": "admin"}).status_code == 403

    r = lms.http.post("/api/clients/agent-1/command", json=exec_cmd)  # admin
    assert r.status_code == 200 and r.json()["data"]["echo"] == "exec"

    # audit: exec and settings writes, with who, what, target and result
    entries = lms.http.get("/api/audit", params={"limit": 50}).json()["data"]["entries"]
    by_action = {e["action"]: e for e in reversed(entries)}  # the newest of each action
    assert by_action["command:exec"]["result"] == "succeeded"
    assert by_action["command:exec"]["actor"].startswith("bootstrap admin env#")
    assert by_action["command:exec"]["detail"] == {"cmd": "echo hi"}
    assert by_action["command:set_setting"]["actor"].startswith("teacher#")
    assert by_action["command:set_setting"]["target"] == "agent-1"
    assert by_action["command:set_setting"]["result"] == "succeeded"
    assert by_action["token:create"]["role"] == "admin"
    refused = [e for e in entries if e["action"] == "command:exec" and e["result"] == "forbidden"]
    assert [e["target"] for e in refused] == ["all", "agent-1"]  # the operator's two attempts, newest first
    assert all(e["actor"].startswith("teacher#") for e in refused)
    assert "command:ping" not in by_action  # read-only commands are not audited
    viewer.close()
    operator.close()


def test_tokens_created_by_the_cli_work_and_revocation_is_immediate(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    out = subprocess.run(
        [sys.executable, "-m", "edge.lms", "--config", str(lms.config_path), "token", "create", "--role", "viewer",
         "--name", "grafana"],
        cwd=REPO, env=lms.env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    token = out.stdout.strip()
    assert token.startswith("ctl_") and "not shown again" in out.stderr
    with client(lms, token) as c:
        assert c.get("/api/clients/").status_code == 200
        listed = lms.http.get("/api/tokens").json()["data"]["tokens"]
        (row,) = [t for t in listed if t["name"] == "grafana"]
        assert row["role"] == "viewer" and row["created_by"] == "cli" and "token" not in row
        assert lms.http.delete(f"/api/tokens/{row['id']}").status_code == 200
        assert c.get("/api/clients/").status_code == 401
    assert lms.http.delete("/api/tokens/9999").status_code == 404
    r = lms.http.post("/api/tokens", json={"name": "x", "role": "superuser"})
    assert r.status_code == 422 and r.json()["error_code"] == "bad_payload"
    bad = subprocess.run(
        [sys.executable, "-m", "edge.lms", "--config", str(lms.config_path), "token", "revoke", "4242"],
        cwd=REPO, env=lms.env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "no token with id 4242" in bad.stderr


def test_first_start_without_a_token_writes_an_admin_token_file(lms_factory: LmsFactory) -> None:
    lms = lms_factory()
    del lms.env["CLASSTOP_LMS_ADMIN_TOKEN"]
    lms.start()
    db_dir = lms.config_path.parent.parent  # the harness puts lms.db in the test's tmp dir
    path = db_dir / "admin-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in lms.log()
    with client(lms, path.read_text().strip()) as c:
        assert c.get("/api/tokens").status_code == 200
    with client(lms, None) as c:
        assert c.get("/api/clients/").status_code == 401


def test_prometheus_metrics_are_open_on_loopback(lms_factory: LmsFactory) -> None:
    lms = lms_factory().start()
    r = httpx.get(f"{lms.base_url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE classtop_agents gauge" in r.text
    assert re.search(r"^process_resident_memory_bytes \d", r.text, re.M)
    # a token, when given, must be valid even from loopback
    bad = {"Authorization": "Bearer ctl_nope-nope-nope-nope"}
    assert httpx.get(f"{lms.base_url}/metrics", headers=bad).status_code == 401
