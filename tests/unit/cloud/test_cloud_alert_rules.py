"""The tenant's alert rules: defaults until set, validated with the shared models (bad rules refused with the
reason), written to each site's ``alerts:rules`` shadow (the rules whose scope takes the site)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.models import AlertSettingModel
from shared.messages.alert import AlertRulesDocument
from shared.topics import ALERT_RULES_SHADOW, site_thing_name
from tests.unit.cloud.cloud_testkit import NS, SETTINGS, Cloud, iot_client, online

DISK: dict[str, Any] = {"rule_id": "disk-95", "name": "Disk 95 %", "severity": "critical",
        "condition": {"kind": "metric_threshold", "metric": "disk_used_percent", "threshold": 95, "clear": 90}}


def shadow_rules(site_id: str) -> list[str]:
    raw = boto3.client("iot-data", region_name=SETTINGS.region).get_thing_shadow(
        thingName=site_thing_name(NS, site_id), shadowName=ALERT_RULES_SHADOW)["payload"].read()
    document = AlertRulesDocument.model_validate(json.loads(raw)["state"]["desired"])
    return [r.rule_id for r in document.rules]


@pytest.fixture
def sites(site: Cloud) -> Cloud:
    """s1 (with its IoT thing) and s2 (no thing: enrolled without an IoT identity)."""
    site.heartbeat("s3", [online("c1")])
    iot_client().create_thing(thingName=site_thing_name(NS, "s3"))
    return site


def test_the_defaults_are_in_force_until_changed_and_do_not_come_back(sites: Cloud) -> None:
    listed = sites.get("/api/alert-rules", role="viewer").json_body["data"]["rules"]
    assert {r["rule_id"] for r in listed} == {"agent-offline", "cloud-link-down", "cpu-high", "disk-full",
                                              "site-unreachable"}
    assert sites.delete("/api/alert-rules/cpu-high").status_code == 200
    assert "cpu-high" not in {r["rule_id"] for r in sites.get("/api/alert-rules").json_body["data"]["rules"]}


def test_a_rule_reaches_the_shadow_of_each_site_its_scope_takes(sites: Cloud) -> None:
    answer = sites.put("/api/alert-rules/disk-95", {**DISK, "scope": {"sites": ["s1"]}})
    assert answer.status_code == 200, answer.json_body
    data = answer.json_body["data"]
    assert data["sites_written"] == ["s1", "s3"] and "s2" in data["sites_failed"]  # s2 has no IoT thing
    assert "disk-95" in shadow_rules("s1") and "disk-95" not in shadow_rules("s3")
    assert sites.delete("/api/alert-rules/disk-95").status_code == 200
    assert "disk-95" not in shadow_rules("s1")
    assert sites.get("/api/alert-rules/disk-95").status_code == 404


@pytest.mark.parametrize(("rule", "reason"), [
    ({**DISK, "condition": {**DISK["condition"], "metric": "fan_speed"}}, "metric"),
    ({**DISK, "condition": {**DISK["condition"], "for_s": -1}}, "for_s"),
    ({**DISK, "condition": {**DISK["condition"], "threshold": 150, "clear": 90}}, "percentage"),
    ({**DISK, "condition": {**DISK["condition"], "clear": 99}}, "clear"),
    ({**DISK, "condition": {"kind": "smoke_detected"}}, "kind"),
    ({**DISK, "scope": {"sites": []}}, "sites"),
    ({**DISK, "scope": {"sites": ["nowhere"]}}, "no site nowhere"),
    ({**DISK, "scope": {"agents": ["ghost"]}}, "no agent ghost"),
    ({**DISK, "scope": {"sites": ["s2"], "agents": ["a1"]}}, "no agent a1 in the rule's sites"),
    ({**DISK, "rule_id": "other"}, "the body names 'other'"),
    ({**DISK, "extra": 1}, "extra"),
])
def test_bad_rules_are_refused_with_the_reason_and_nothing_is_written(sites: Cloud, rule: dict[str, Any],
                                                                      reason: str) -> None:
    sites.get("/api/alert-rules")  # the defaults installed
    before = AlertSettingModel.count("rule")  # test-only inspection
    answer = sites.put("/api/alert-rules/disk-95", rule)
    assert answer.status_code == 400, answer.json_body
    assert reason in answer.json_body["error"]["message"], answer.json_body
    assert AlertSettingModel.count("rule") == before


def test_rules_are_the_tenants_a_scoped_token_cannot_set_them(sites: Cloud) -> None:
    assert sites.put("/api/alert-rules/disk-95", DISK, role="operator").status_code == 403


def test_at_most_thirty_rules(sites: Cloud) -> None:
    sites.get("/api/alert-rules")  # the 5 defaults
    for i in range(25):
        assert sites.put(f"/api/alert-rules/r{i}", {**DISK, "rule_id": f"r{i}"}).status_code == 200
    too_many = sites.put("/api/alert-rules/r99", {**DISK, "rule_id": "r99"})
    assert too_many.status_code == 409 and "at most 30" in too_many.json_body["error"]["message"]


def test_the_compact_shadow_document_parses_back_to_the_same_rules() -> None:
    from chalicelib.services.alert_rules import DEFAULT_RULES, compact

    document = AlertRulesDocument(rules=list(DEFAULT_RULES))
    assert AlertRulesDocument.model_validate(json.loads(json.dumps(compact(document)))) == document
