"""Fuzz the cloud's IoT-rule handlers (every ``ct/{tenant}/{stage}/site/+/up/...`` channel an LMS publishes on)
on in-process moto: any payload, from a known site, another site, an unknown one, or a topic whose site id is not
an id at all.

The property: a handler never raises (an exception would make Lambda retry a message that will never pass) and
answers ``{"ok": true, ...}`` or ``{"ok": false, "error": {"code", "message"}}`` — a refusal logged with its reason
and counted; deep or NaN-bearing payloads are refused at decoding (``bad_json``), before any write.
"""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "cloud"))
from chalicelib.handlers import RULE_HANDLERS
from chalicelib.handlers.events import RULE_MESSAGE_KEY, RULE_SITE_KEY
from shared.errors import ErrorCode, MessageError
from shared.messages import load_json
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally
from tests.unit.cloud.cloud_testkit import Cloud, online, running_cloud

NOW = time.time()
EVENT = {"type": "event", "timestamp": NOW, "kind": "disk.full", "severity": "warning", "data": {"a": 1}}
VALID: dict[str, dict[str, Any]] = {
    "site_heartbeat": {"type": "site_heartbeat", "timestamp": NOW, "lms_version": "1.0",
                       "agents": [{"agent_id": "a1", "status": "online"}]},
    "command_results": {"type": "command_results", "results": [{"request_id": "c-1", "agent_id": "a1",
                        "status": "succeeded", "success": True, "data": {"x": 1}, "timestamp": NOW}]},
    "site_events": {"type": "site_events", "events": [{"agent_id": "a1", "event": EVENT}]},
    "site_sync": {"type": "agent_snapshots", "snapshots": [{"agent_id": "a1", "kind": "settings", "epoch": "e1",
                  "version": 1, "hash": "0" * 64, "data": {"a": "b"}, "updated_at": NOW}]},
    "site_metrics": {"type": "metric_rollups", "rollups": [{"agent_id": "a1", "start": 0, "samples": 1,
                     "cpu_min": 1.0, "cpu_avg": 1.0, "cpu_max": 1.0}]},
    "site_alerts": {"type": "site_alerts", "alerts": [{"alert_id": "a" * 32, "key": "b" * 32, "seq": 1,
                    "rule_id": "disk-full", "rule_scope": "tenant", "rule_name": "Disk", "severity": "error",
                    "condition_kind": "metric_threshold", "target": {"kind": "agent", "agent_id": "a1"},
                    "state": "firing", "opened_at": NOW, "changed_at": NOW, "covers": None}]},
}  # fmt: skip
SITES = st.sampled_from(["s1", "s2", "never-seen", "bad/site", ""])


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    with running_cloud() as cloud:
        cloud.heartbeat("s1", [online("a1")])
        cloud.heartbeat("s2", [online("b1")])
        yield cloud


def refused_json(payload: bytes) -> bool:
    """Whether the payload breaks the JSON intake limits (deep, NaN, huge integers, not JSON)."""
    try:
        load_json(payload)
    except MessageError as exc:
        return exc.code is ErrorCode.BAD_JSON
    return False


def rule_event(site_id: str, payload: bytes) -> dict[str, Any]:
    return {RULE_SITE_KEY: site_id, RULE_MESSAGE_KEY: base64.b64encode(payload).decode()}


@pytest.mark.parametrize("name", sorted(VALID))
def test_fuzz_rule_handler(cloud: Cloud, name: str) -> None:
    handler = RULE_HANDLERS[name]

    @given(site_id=SITES, payload=payloads(VALID[name]))
    @example(site_id="s1", payload=dumps({"type": "site_events", "events": [{"agent_id": "a1",
                                          "event": {**EVENT, "data": nest(300)}}]}))  # fmt: skip
    @example(site_id="s1", payload=b'{"type": "metric_rollups", "rollups": [{"agent_id": "a1", "start": 0, '
                                   b'"samples": 1, "cpu_min": NaN, "cpu_avg": 1, "cpu_max": 1}]}')  # fmt: skip
    @example(site_id="s1", payload=("[" * 5000 + "]" * 5000).encode())
    @example(site_id="s1", payload=b'{"":"","":{"Infinity":null}}')  # found: "Infinity" as a key is valid JSON
    def run(site_id: str, payload: bytes) -> None:
        tally(f"cloud rule {name}")
        answer = handler(rule_event(site_id, payload), None)
        assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), answer
        if not answer["ok"]:
            error = answer["error"]
            assert error["code"] != "internal" and error["message"], answer
        if refused_json(payload) and site_id in ("s1", "s2", "never-seen"):  # (an invalid site id is refused first)
            assert not answer["ok"] and answer["error"]["code"] == "bad_json", answer

    run()


def test_the_seeds_are_taken(cloud: Cloud) -> None:
    for name, message in VALID.items():
        answer = RULE_HANDLERS[name](rule_event("s1", dumps(message)), None)
        assert answer["ok"], (name, answer)
