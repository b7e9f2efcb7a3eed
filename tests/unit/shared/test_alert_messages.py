"""The alert contract: rules refuse what cannot be evaluated, records and site messages round-trip."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from shared.messages import decode, encode
from shared.messages.alert import (
    MAX_TENANT_RULES,
    AlertRecord,
    AlertRule,
    AlertRulesDocument,
    AlertState,
    AlertTarget,
    SiteAlerts,
    TargetKind,
    alert_key,
)
from shared.topics import ShadowOp, SiteUp, alert_rules_shadow_name, is_alert_rules_shadow, is_valid_id, shadow

DISK = {"kind": "metric_threshold", "metric": "disk_used_percent", "threshold": 90, "clear": 85, "for_s": 300}


def rule(condition: dict[str, Any], **extra: Any) -> AlertRule:
    return AlertRule.model_validate({"rule_id": "r1", "name": "rule", "condition": condition, **extra})


def test_a_threshold_rule_with_hysteresis_is_accepted_and_round_trips() -> None:
    r = rule(DISK, scope={"groups": ["room-101"]})
    assert AlertRule.model_validate_json(r.model_dump_json()) == r


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        ({**DISK, "metric": "gpu_fan"}, "metric"),
        ({**DISK, "for_s": -1}, "for_s"),
        ({**DISK, "clear": 95}, "clear must not be above"),
        ({**DISK, "op": "below", "threshold": 10, "clear": 5}, "clear must not be below"),
        ({**DISK, "threshold": 150, "clear": 90}, "percentage"),
        ({"kind": "command_failure_rate", "rate": 0.2, "clear_rate": 0.5}, "clear_rate"),
        ({"kind": "camera_health", "conditions": ["frozen", "frozen"]}, "repeat"),
        ({"kind": "camera_health", "conditions": []}, "at least 1"),
        ({"kind": "reboot_storm"}, "kind"),
        ({**DISK, "for_s": float("nan")}, "for_s"),
        # numbers are numbers: a boolean or a numeral in a string is refused, not read as 0/1 or 5
        ({**DISK, "for_s": False}, "for_s"),
        ({**DISK, "threshold": True}, "threshold"),
        ({**DISK, "clear": "85"}, "clear"),
        ({"kind": "agent_offline", "for_s": "300"}, "for_s"),
        ({"kind": "command_failure_rate", "min_commands": True}, "min_commands"),
        ({"kind": "command_failure_rate", "min_commands": "5"}, "min_commands"),
        ({"kind": "command_failure_rate", "min_commands": 5.5}, "min_commands"),
    ],
)
def test_bad_rules_are_refused_with_the_reason(condition: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as err:
        rule(condition)
    assert says in str(err.value)


def test_flap_damping_takes_numbers_only_and_json_numbers_as_before() -> None:
    """An integral JSON number is an integer to JSON Schema (``3.0``): taken, as the documents allow it."""
    with pytest.raises(ValidationError, match="max_changes"):
        rule(DISK, damping={"max_changes": True})
    condition = ('{"kind": "metric_threshold", "metric": "disk_used_percent", "threshold": 90, "clear": 85.5, '
                 '"for_s": 60}')
    parsed = AlertRule.model_validate_json(f'{{"rule_id": "r1", "name": "rule", "condition": {condition}, '
                                           '"damping": {"max_changes": 3.0, "window_s": 600}}')  # fmt: skip
    assert parsed.damping.max_changes == 3 and parsed.condition.for_s == 60.0


def test_a_scope_list_that_is_empty_is_refused_rather_than_matching_nothing() -> None:
    with pytest.raises(ValidationError):
        rule(DISK, scope={"agents": []})


def test_tenant_rule_documents_refuse_repeated_ids_and_too_many_rules() -> None:
    r = rule(DISK)
    with pytest.raises(ValidationError, match="repeat"):
        AlertRulesDocument(rules=[r, r])
    many = [r.model_copy(update={"rule_id": f"r{i}"}) for i in range(MAX_TENANT_RULES + 1)]
    with pytest.raises(ValidationError):
        AlertRulesDocument(rules=many)


@pytest.mark.parametrize(
    "target",
    [
        {"kind": "site", "agent_id": "pc-1"},
        {"kind": "agent"},
        {"kind": "agent", "agent_id": "pc-1", "camera_id": "cam1"},
        {"kind": "camera", "agent_id": "pc-1"},
    ],
)
def test_targets_name_exactly_what_their_kind_needs(target: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        AlertTarget.model_validate(target)


def test_the_key_is_stable_per_rule_and_target_and_tells_site_rules_from_tenant_rules() -> None:
    pc1 = AlertTarget(kind=TargetKind.AGENT, agent_id="pc-1")
    pc2 = AlertTarget(kind=TargetKind.AGENT, agent_id="pc-2")
    assert alert_key("site", "r1", pc1) == alert_key("site", "r1", pc1)
    assert len({alert_key("site", "r1", pc1), alert_key("site", "r1", pc2), alert_key("tenant", "r1", pc1)}) == 3


def test_site_alerts_round_trip_through_the_one_codec() -> None:
    target = AlertTarget(kind=TargetKind.CAMERA, agent_id="pc-1", camera_id="door")
    record = AlertRecord(
        alert_id=uuid.uuid4().hex, key=alert_key("site", "cams", target), seq=2, rule_id="cams",
        rule_scope="site", rule_name="cameras", severity="warning", condition_kind="camera_health",
        target=target, state=AlertState.ACKNOWLEDGED, opened_at=1.0, changed_at=2.0, acknowledged_by="ops",
        acknowledged_at=2.0,
    )
    message = SiteAlerts(alerts=[record])
    assert decode(SiteAlerts, encode(message)) == message
    with pytest.raises(ValidationError):
        AlertRecord.model_validate({**record.model_dump(), "seq": 0})


def test_the_alerts_channel_and_rules_shadow_have_their_names() -> None:
    assert SiteUp.ALERTS.value == "alerts"
    name = alert_rules_shadow_name()
    assert is_alert_rules_shadow(name) and not is_valid_id(name)  # never an agent's settings shadow
    assert shadow("ct--t--s--site1", ShadowOp.UPDATE, name).endswith("/name/alerts:rules/update")
