"""The LMS's alert API in-process (FastAPI's TestClient over a real store): rules refused with a clear message,
roles and the audit log, silences, maintenance windows, the webhook channel's address rules, and that nothing
reachable without an admin or operator token creates rules, silences or alerts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edge.lms.alerts import AlertError, check_webhook_url, default_rules
from edge.lms.api import Services, create_app
from edge.lms.store import Store
from tests.fixtures.lms_services import offline_services

DISK = {"kind": "metric_threshold", "metric": "disk_used_percent", "threshold": 90, "clear": 85, "for_s": 0}


@dataclass
class Api:
    client: TestClient
    services: Services
    tokens: dict[str, str]

    def call(self, method: str, path: str, role: str | None = "admin", body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        r = self.client.request(method, path, headers=headers, json=body)
        return r.status_code, r.json()


@pytest.fixture
def api(tmp_path: Path, store: Store) -> Iterator[Api]:
    services = offline_services(store, tmp_path)
    services.registry.connected("pc-1", kind="agent")
    tokens = {role: services.tokens.create(f"{role} token", role)[1] for role in ("viewer", "operator", "admin")}
    with TestClient(create_app(services)) as client:
        yield Api(client, services, tokens)


def rule(rule_id: str = "disk", **kw: Any) -> dict[str, Any]:
    return {"rule_id": rule_id, "name": "disk full", "condition": DISK, **kw}


def test_the_defaults_are_shipped(api: Api) -> None:
    code, body = api.call("GET", "/api/alerts/rules", "viewer")
    assert code == 200
    assert [r["rule_id"] for r in body["data"]["site"]] == sorted(r.rule_id for r in default_rules())
    kinds = {r["condition"]["kind"] for r in body["data"]["site"]}
    assert kinds == {"metric_threshold", "agent_offline", "camera_health", "command_failure_rate",
                     "classtop_offline_in_class"}  # fmt: skip


def test_create_replace_delete_and_audit(api: Api) -> None:
    assert api.call("POST", "/api/alerts/rules", body=rule())[0] == 201
    assert api.call("POST", "/api/alerts/rules", body=rule())[0] == 409
    code, body = api.call("PUT", "/api/alerts/rules/disk", body=rule(severity="critical"))
    assert code == 200 and body["data"]["severity"] == "critical"
    assert api.call("PUT", "/api/alerts/rules/other", body=rule())[0] == 422  # body and path disagree
    assert api.call("DELETE", "/api/alerts/rules/disk")[0] == 200
    assert api.call("DELETE", "/api/alerts/rules/disk")[0] == 404
    actions = [a["action"] for a in api.services.audit.recent(limit=10)]
    assert {"alert:rule_create", "alert:rule_replace", "alert:rule_delete"} <= set(actions)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (rule(condition={**DISK, "metric": "temperature"}), "metric"),
        (rule(condition={**DISK, "for_s": -5}), "for_s"),
        (rule(condition={**DISK, "for_s": False}), "for_s"),  # the fuzz run's finding: read as 0 before
        (rule(condition={**DISK, "threshold": 150, "clear": 85}), "percentage"),
        (rule(condition={**DISK, "clear": 95}), "clear must not be above threshold"),
        (rule(condition={"kind": "lms_offline"}), "evaluated in the cloud"),
        (rule(condition={"kind": "reboot_storm"}), "kind"),
        (rule(scope={"groups": ["nowhere"]}), "groups this site does not have"),
        (rule(scope={"agents": ["pc-99"]}), "agents this site does not have"),
        (rule(scope={"tags": ["ghost"]}), "tags no agent of this site has"),
        (rule(scope={"sites": ["school-1"]}), "scope.sites is for tenant rules"),
        (rule(rule_id="../x"), "rule_id"),
        ({**rule(), "extra": 1}, "extra"),
    ],
)
def test_bad_rules_are_refused_with_a_clear_message(api: Api, body: dict[str, Any], says: str) -> None:
    code, answer = api.call("POST", "/api/alerts/rules", body=body)
    assert code == 422, answer
    assert says.lower() in answer["error"].lower()
    assert "disk" not in [r["rule_id"] for r in api.call("GET", "/api/alerts/rules", "viewer")[1]["data"]["site"]]


def test_a_scope_whose_parts_do_not_overlap_matches_nothing(api: Api, store: Store) -> None:
    api.services.registry.connected("pc-2", kind="agent")
    with store.transaction() as conn:
        conn.execute("INSERT INTO agent_groups (name, created_at) VALUES ('lab', 0)")
        conn.execute("INSERT INTO agent_group_members (group_name, agent_id) VALUES ('lab', 'pc-1')")
    code, answer = api.call("POST", "/api/alerts/rules", body=rule(scope={"groups": ["lab"], "agents": ["pc-2"]}))
    assert code == 422 and "matches no agent" in answer["error"]
    assert api.call("POST", "/api/alerts/rules", body=rule(scope={"groups": ["lab"]}))[0] == 201


def test_roles(api: Api) -> None:
    assert api.call("POST", "/api/alerts/rules", None, body=rule())[0] == 401
    assert api.call("POST", "/api/alerts/rules", "viewer", body=rule())[0] == 403
    assert api.call("POST", "/api/alerts/rules", "operator", body=rule())[0] == 403
    silence = {"rule_id": "default-cpu", "duration_s": 600, "reason": "known"}
    assert api.call("POST", "/api/alerts/silences", "viewer", body=silence)[0] == 403
    assert api.call("PUT", "/api/alerts/webhook", "operator", body={"url": "https://x.example/h"})[0] == 403
    assert api.call("GET", "/api/alerts", None)[0] == 401
    # a forged bearer (an agent's broker password, say) is no token
    r = api.client.post("/api/alerts/rules", json=rule(), headers={"Authorization": "Bearer broker-password"})
    assert r.status_code == 401


def test_no_route_creates_an_alert(api: Api) -> None:
    assert api.call("POST", "/api/alerts", body={"rule_id": "x"})[0] == 405
    assert api.call("PUT", f"/api/alerts/{'0' * 32}", body={"state": "firing"})[0] == 405
    assert api.call("GET", "/api/alerts", "viewer")[1]["data"]["count"] == 0


def test_silences_and_maintenance_windows(api: Api) -> None:
    code, body = api.call("POST", "/api/alerts/silences", "operator",
                          body={"agent_id": "pc-1", "duration_s": 600, "reason": "reimaging"})  # fmt: skip
    assert code == 201 and body["data"]["expires_at"] > body["data"]["created_at"]
    assert api.call("POST", "/api/alerts/silences", "operator", body={"duration_s": 60, "reason": "x"})[0] == 422
    assert api.call("POST", "/api/alerts/silences", "operator",
                    body={"rule_id": "r", "duration_s": -1, "reason": "x"})[0] == 422  # fmt: skip
    assert api.services.alerting is not None and api.services.alerting.suppressions.silenced("any", "pc-1")
    sid = body["data"]["silence_id"]
    assert api.call("DELETE", f"/api/alerts/silences/{sid}", "operator")[0] == 200
    assert not api.services.alerting.suppressions.silenced("any", "pc-1")
    code, body = api.call("POST", "/api/alerts/maintenance", "operator",
                          body={"starts_at": 1, "ends_at": 4e9, "reason": "exams"})  # fmt: skip
    assert code == 422 and "7 days" in body["error"]
    now = time.time()
    code, body = api.call("POST", "/api/alerts/maintenance", "operator",
                          body={"starts_at": now, "ends_at": now + 3600, "reason": "exams"})  # fmt: skip
    assert code == 201
    assert api.services.alerting.suppressions.in_maintenance("pc-1")


@pytest.mark.parametrize(
    ("url", "local_dev", "says"),
    [
        ("http://hooks.example/x", False, "must be https"),
        ("http://hooks.example/x", True, "loopback address only"),
        ("http://127.0.0.1:9/x", False, "must be https"),
        ("ftp://hooks.example/x", False, "must be https"),
        ("https://user:pw@hooks.example/x", False, "user info"),
        ("https://169.254.169.254/latest/meta-data", False, "link-local"),
        ("https://[fe80::1]/x", False, "link-local"),
        ("https:///x", False, "no host"),
    ],
)
def test_webhook_urls_refused(url: str, local_dev: bool, says: str) -> None:
    with pytest.raises(AlertError, match=says):
        check_webhook_url(url, local_dev=local_dev)


def test_webhook_urls_allowed() -> None:
    assert check_webhook_url("https://hooks.school.lan/alerts", local_dev=False)
    assert check_webhook_url("https://10.0.0.5:8443/x", local_dev=False)  # the site's own systems
    assert check_webhook_url("http://127.0.0.1:8080/x", local_dev=True)


def test_the_webhook_channel_needs_a_secret_and_https(api: Api) -> None:
    code, body = api.call("PUT", "/api/alerts/webhook", body={"url": "http://hooks.example/x"})
    assert code == 422 and "https" in body["error"]
    code, body = api.call("PUT", "/api/alerts/webhook", body={"url": "https://hooks.example/x"})
    assert code == 409 and "secret" in body["error"]
    code, body = api.call("GET", "/api/alerts/webhook", "viewer")
    assert code == 200 and body["data"]["secret_set"] is False and "secret" not in str(body["data"]["channel"])
