"""Helpers of the cloud's alert tests: alert records as an LMS sends them, and the SiteAlerts message."""

from __future__ import annotations

import uuid
from typing import Any

from shared.messages.alert import AlertTarget, TargetKind, alert_key


def agent_record(agent_id: str, *, seq: int = 1, state: str = "firing", alert_id: str | None = None,
                 rule_id: str = "disk-full", at: float = 1_700_000_000.0, severity: str = "error",
                 flapping: bool = False, **extra: Any) -> dict[str, Any]:
    """An agent's alert as its LMS reports it (``AlertRecord`` as JSON)."""
    target = AlertTarget(kind=TargetKind.AGENT, agent_id=agent_id)
    record: dict[str, Any] = {
        "alert_id": alert_id or uuid.uuid4().hex, "key": alert_key("tenant", rule_id, target), "seq": seq,
        "rule_id": rule_id, "rule_scope": "tenant", "rule_name": "Disk almost full", "severity": severity,
        "condition_kind": "metric_threshold", "target": target.model_dump(mode="json"), "state": state,
        "message": "disk 95 % used", "value": 95.0, "opened_at": at, "changed_at": at + seq, "flapping": flapping,
    }
    if state == "resolved":
        record["resolved_at"] = at + seq
    return {**record, **extra}


def site_alerts(site_id: str, *records: dict[str, Any]) -> dict[str, Any]:
    """The ``site_alerts`` rule handler's event (``cloud.invoke``): a ``SiteAlerts`` from ``site_id``."""
    return {"type": "site_alerts", "v": 1, "alerts": list(records), "site_id": site_id}


def sns_publishes(topic_arn: str) -> list[tuple[str | None, str, dict[str, Any]]]:
    """What moto's SNS recorded as published to ``topic_arn``: (subject, message, message attributes)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    region = topic_arn.split(":")[3]
    topic = sns_backends[DEFAULT_ACCOUNT_ID][region].topics[topic_arn]
    return [(subject, message, attributes or {}) for _id, message, subject, attributes, _g in topic.sent_notifications]


def published_channels(topic_arn: str) -> list[str]:
    """The ``channel_id`` attribute of each publish (whose subscription SNS delivers it to)."""
    return [attrs["channel_id"]["Value"] for _s, _m, attrs in sns_publishes(topic_arn)]
