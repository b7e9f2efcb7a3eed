"""The msgspec mirrors of the agent's messages (``shared.messages.structs``) against their pydantic models: the
committed module is what the writer makes of today's models, and both accept and refuse the same messages, the
refusals included (unknown fields, wrong types, out-of-range values, a bad schema version, rules across fields)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel, ValidationError

from shared.errors import ErrorCode, MessageError
from shared.messages import structs
from shared.messages.base import decode, encode
from shared.messages.checks import MAX_DATA_DEPTH
from shared.messages.struct_writer import MODELS, RULES, TARGET, WRITER, UnsupportedModel, formatted


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


#: one valid message per mirrored model (every optional field set), as decoded JSON
VALID: dict[str, dict[str, Any]] = {
    "Command": {"v": 1, "type": "command", "request_id": "r-1.a:b", "command": "exec", "params": {"argv": ["ls"]},
                "timeout_s": 12.5, "command_id": "c-1"},
    "Response": {"v": 1, "type": "response", "request_id": "r-1", "success": False, "data": {"rc": 2},
                 "error": "it failed", "error_code": "exec_failed"},
    "Status": {"v": 1, "type": "status", "state": "online", "timestamp": 1.5, "reason": "start", "version": "1.0",
               "hostname": "pc-1", "config_version": "abc"},
    "Heartbeat": {"v": 1, "type": "heartbeat", "timestamp": 1700000000.25, "seq": 3},
    "DiskUsage": {"mount": "/", "total": 10, "used": 5, "percent": 50.0},
    "Metrics": {"v": 1, "type": "metrics", "timestamp": 1.0, "cpu_percent": 3.5, "load": [0.1, 0.2, 0.3],
                "mem_total": 100, "mem_used": 50, "mem_percent": 50.0, "swap_percent": 0.0,
                "disks": [{"mount": "/", "total": 10, "used": 5, "percent": 50.0}], "net_rx_bps": 1.0,
                "net_tx_bps": 2.0, "uptime_s": 3.0, "process_count": 4},
    "StateData": {"settings": {"a": "b"}, "cctv_state": {"x": [1, None]}, "inventory": {"os": "linux"}},
    "StateUpdate": {"v": 1, "type": "state_update", "data": {"settings": {"a": "b"}, "inventory": {}}},
    "Event": {"v": 1, "type": "event", "timestamp": 2.0, "kind": "command.state", "severity": "warning",
              "message": "m", "data": {"request_id": "r-1", "status": "running"}},
    "Course": {"id": 1, "name": "Maths", "teacher": "Li", "location": "101", "color": "#6750A4", "note": "n"},
    "ScheduleEntry": {"id": 10, "course_id": 1, "day_of_week": 1, "start_time": "08:00", "end_time": "08:45",
                      "weeks": [2, 1, 2]},
    "ClassTopData": {"courses": [{"id": 1, "name": "Maths"}, {"id": 2, "name": "Art"}],
                     "schedule_entries": [{"id": 10, "course_id": 1, "day_of_week": 1, "start_time": "08:00",
                                           "end_time": "08:45"}]},
    "ClassTopSnapshot": {"courses": [{"id": 1, "name": "Maths"}], "schedule_entries": [], "epoch": "e1",
                         "version": 2, "hash": "0" * 64, "updated_at": 5.5, "source": "client.db"},
    # the site messages the cloud's IoT-rule functions decode (chalicelib/handlers/rules.py)
    "AgentPresence": {"agent_id": "pc-1", "status": "online", "kind": "legacy", "last_seen": 1.5, "hostname": "h",
                      "version": "1.0", "config_version": "cloud:3"},
    "SiteHeartbeat": {"v": 1, "type": "site_heartbeat", "timestamp": 2.0, "lms_version": "1.0",
                      "lms_config_version": "local:ab", "full": False,
                      "agents": [{"agent_id": "pc-1", "status": "online"}],
                      "certificates_expiring": ["site_ca", "lms"], "full_period_s": 300.0},
    "AgentResult": {"request_id": "r-1", "agent_id": "pc-1", "status": "failed", "success": False, "data": {"rc": 1},
                    "error": "no", "error_code": "exec_failed", "timestamp": 3.0,
                    "hops": {"received": 1.0, "delivered": 2.0, "finished": 2.5}},
    "CommandResults": {"v": 1, "type": "command_results", "results": [
        {"request_id": "r-1", "agent_id": "pc-1", "status": "delivered", "timestamp": 3.0}]},
    "AgentEvent": {"agent_id": "pc-1", "event": {"v": 1, "type": "event", "timestamp": 2.0, "kind": "camera.error",
                                                 "severity": "error", "message": "m", "data": {"camera_id": "door"}}},
    "SiteEvents": {"v": 1, "type": "site_events", "events": [
        {"agent_id": "pc-1", "event": {"type": "event", "timestamp": 2.0, "kind": "k"}}]},
    "SnapshotEntry": {"agent_id": "pc-1", "kind": "settings", "epoch": "e1", "version": 2, "hash": "a" * 64,
                      "data": {"theme": "dark"}, "updated_at": 4.5},
    "AgentSnapshots": {"v": 1, "type": "agent_snapshots", "snapshots": [
        {"agent_id": "pc-1", "kind": "settings", "epoch": "e1", "version": 2, "hash": "a" * 64, "data": {},
         "updated_at": 4.5},
        {"agent_id": "pc-1", "kind": "classtop", "epoch": "e1", "version": 1, "hash": "b" * 64, "data": {},
         "updated_at": 4.5}]},
    "MetricRollup": {"agent_id": "pc-1", "start": 3600, "period_s": 300, "samples": 30, "cpu_min": 1.0,
                     "cpu_avg": 2.0, "cpu_max": 3.0, "mem_min": 4.0, "mem_avg": 5.0, "mem_max": 6.0, "disk_min": 7.0,
                     "disk_avg": 8.0, "disk_max": 9.0, "net_rx_min": 1, "net_rx_avg": 2, "net_rx_max": 3,
                     "net_tx_min": 4, "net_tx_avg": 5, "net_tx_max": 6},
    "MetricRollups": {"v": 1, "type": "metric_rollups", "rollups": [
        {"agent_id": "pc-1", "start": 0, "samples": 1, "cpu_min": 1.0, "cpu_avg": 1.0, "cpu_max": 1.0},
        {"agent_id": "pc-1", "start": 300, "samples": 1, "cpu_min": 1.0, "cpu_avg": 1.0, "cpu_max": 1.0}]},
    "RetiredAgentEntry": {"agent_id": "pc-1", "retired_at": 5.0, "by": "tech", "reason": "scrapped"},
    "AgentsRetired": {"v": 1, "type": "agents_retired", "agents": [{"agent_id": "pc-1", "retired_at": 5.0},
                                                                   {"agent_id": "pc-2", "retired_at": 5.0}]},
    "CampaignAgentReport": {"agent_id": "pc-1", "wave": 1, "state": "upgraded", "from_version": "1.0",
                            "version": "1.1", "detail": "ok", "updated_at": 6.0},
    "UpgradeCampaignReport": {"v": 1, "type": "upgrade_campaign_report", "campaign_id": "c1", "state": "running",
                              "lms_campaign_id": 3, "version": "1.1", "detail": "d", "agent_count": 2,
                              "timestamp": 6.0, "agents": [
                                  {"agent_id": "pc-1", "wave": 0, "state": "sent", "updated_at": 6.0},
                                  {"agent_id": "pc-2", "wave": 1, "state": "pending", "updated_at": 6.0}]},
    "AlertTarget": {"kind": "camera", "agent_id": "pc-1", "camera_id": "door"},
    "AlertRecord": {"alert_id": "a" * 32, "key": "b" * 32, "seq": 2, "rule_id": "disk-full", "rule_scope": "tenant",
                    "rule_name": "Disk", "severity": "error", "condition_kind": "metric_threshold",
                    "target": {"kind": "agent", "agent_id": "pc-1"}, "state": "acknowledged", "message": "m",
                    "value": 95.5, "opened_at": 1.0, "changed_at": 2.0, "flapping": True, "covers": 3,
                    "acknowledged_by": "ops", "acknowledged_at": 2.0, "resolved_at": 3.0},
    "SiteAlerts": {"v": 1, "type": "site_alerts", "alerts": [
        {"alert_id": "a" * 32, "key": "b" * 32, "seq": 1, "rule_id": "r1", "rule_scope": "site", "rule_name": "R",
         "severity": "info", "condition_kind": "lms_offline", "target": {"kind": "site"}, "state": "firing",
         "opened_at": 1.0, "changed_at": 1.0}]},
    # IoT Core's, by AWS's field names: unknown fields ignored (both), lax coercions as ever (see lax)
    "LifecycleEvent": {"clientId": "ct-demo-s1", "timestamp": 1700000000000, "eventType": "disconnected",
                       "sessionIdentifier": "s", "principalIdentifier": "p", "versionNumber": 3, "ipAddress": "1.2.3.4",
                       "clientInitiatedDisconnect": False, "disconnectReason": "CONNECTION_LOST"},
}  # fmt: skip

#: the values every field of any model is tried with (beside the valid message's own)
PROBES: list[Any] = [
    None, True, False, 0, 1, -1, 2, 1.5, -0.5, 100, 100.5, 3600, 3600.5, 2**63, 2**64, float("inf"), float("nan"),
    "", "x", "1", "1.5", "true", "yes", "r-1\n", "Bad Name", "a" * 65, "a" * 4097, [], [1.0, 2.0, 3.0], [1, 2],
    {}, {"k": "v"}, {"k": 1}, {"k": nested(MAX_DATA_DEPTH)}, {"k": nested(MAX_DATA_DEPTH - 1)}, {"k": 2**64},
    {"k": float("inf")}, {"mount": "/", "total": 1, "used": 1, "percent": 101},
    [{"mount": "/", "total": 1, "used": 1, "percent": 1}] * 65, "online", "lost", "info", "critical", "busy",
    "command", "response", "1.0", "08:00", "08:45", "24:00", "8:00", "08:00\n", [0], [61], [3, 3], "a" * 64,
    [{"id": 1, "name": "x"}, {"id": 1, "name": "y"}], [{"id": 9, "course_id": 7, "day_of_week": 1,
    "start_time": "08:00", "end_time": "09:00"}], 2**53, 2**53 + 1,
]  # fmt: skip

PAIRS = [(model, getattr(structs, model.__name__)) for model in MODELS]


def outcome_pydantic(model: type[BaseModel], data: Any) -> Any:
    try:
        return json.loads(encode(model.model_validate(data)))
    except ValidationError:
        return "refused"


def outcome_struct(struct: type[msgspec.Struct], data: Any) -> Any:
    try:
        return json.loads(structs.encode(structs.build(struct, **data)))
    except msgspec.ValidationError:
        return "refused"


def variants(name: str) -> list[dict[str, Any]]:
    """The valid message, and for each field: without it, and with it set to each probe; plus an unknown field."""
    base = VALID[name]
    out = [base, {**base, "extra": 1}, {**base, "v": 2}, {**base, "v": "1"}]
    for field in base:
        out.append({k: v for k, v in base.items() if k != field})
        out += [{**base, field: probe} for probe in PROBES]
    return out


def test_the_committed_module_is_what_the_writer_makes() -> None:
    assert TARGET.read_text() == formatted(), "stale: run python -m shared.messages.struct_writer"


def test_the_mirrors_load_without_pydantic() -> None:
    """What ``shared/messages/structs.py`` imports, and that none of it loads pydantic."""
    tree = ast.parse(TARGET.read_text())
    imported = sorted({n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
                      | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names})  # fmt: skip
    assert imported == ["__future__", "msgspec", "shared.errors", "shared.messages.checks", "shared.messages.enums",
                        "shared.messages.mixins", "shared.messages.struct_support", "typing"]  # fmt: skip
    code = f"import sys; import {', '.join(imported[1:])}; print(sorted(m for m in sys.modules if 'pydantic' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=TARGET.parents[2])  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_every_model_has_a_valid_example() -> None:
    assert sorted(VALID) == sorted(m.__name__ for m in MODELS)


def lax(name: str, data: dict[str, Any]) -> bool:
    """Whether ``data`` relies on one of pydantic's lax coercions: for a number (the schema version included) a
    string, a boolean, or for an integer a whole float; for a boolean a number or a string. No sender makes these
    (every one encodes through the models); the mirrors refuse them (msgspec's strict mode)."""
    base = VALID[name]
    for key, value in data.items():
        canonical = base.get(key)
        if isinstance(canonical, list) and canonical and isinstance(canonical[0], int) and isinstance(value, list):
            if any(isinstance(v, float) and v == int(v) for v in value):  # a whole float in a list of integers
                return True
            continue
        if isinstance(canonical, bool):
            if not isinstance(value, bool) and isinstance(value, int | float | str):
                return True
            continue
        if not isinstance(canonical, int | float):
            continue
        if isinstance(value, str | bool) or (isinstance(canonical, int) and isinstance(value, float)):
            return True
    return False


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=[m.__name__ for m in MODELS])
def test_both_accept_and_refuse_the_same_messages(model: type[BaseModel], struct: type[msgspec.Struct]) -> None:
    """What pydantic refuses the mirror refuses; what both accept comes out the same; the mirror refuses more only
    where pydantic coerces (:func:`lax`)."""
    assert outcome_pydantic(model, VALID[model.__name__]) != "refused"
    differ, stricter, tried = [], 0, 0
    for data in variants(model.__name__):
        want, got = outcome_pydantic(model, data), outcome_struct(struct, data)
        tried += 1
        if want == got:
            continue
        if got == "refused" and lax(model.__name__, data):
            stricter += 1
        else:
            differ.append((data, want, got))
    assert not differ, f"{len(differ)} of {tried} differ, the first: {differ[0]!r}"[:2000]
    assert stricter < tried / 4


def test_the_mirrors_refuse_what_pydantic_coerces() -> None:
    from shared.messages.agent import Heartbeat

    heartbeat = {"v": 1, "type": "heartbeat", "timestamp": 1.0}
    for field, value in (("timestamp", "1.5"), ("seq", 2.0), ("v", True), ("v", 1.0)):
        assert outcome_pydantic(Heartbeat, {**heartbeat, field: value}) != "refused"
        assert outcome_struct(structs.Heartbeat, {**heartbeat, field: value}) == "refused"
    for field in ("timestamp", "seq"):  # a boolean for a number: refused by both (shared.messages.base.Strict)
        assert outcome_pydantic(Heartbeat, {**heartbeat, field: True}) == "refused"
        assert outcome_struct(structs.Heartbeat, {**heartbeat, field: True}) == "refused"
    for version in ("1", 2, None):  # a bad schema version: refused by both
        assert outcome_pydantic(Heartbeat, {**heartbeat, "v": version}) == "refused"
        assert outcome_struct(structs.Heartbeat, {**heartbeat, "v": version}) == "refused"


def test_decoding_payloads_matches_the_pydantic_decode() -> None:
    """From bytes, through the one JSON intake (size cap, NaN, 64-bit integers, depth): same answer, same code."""
    command = VALID["Command"]
    payloads = [
        json.dumps(command).encode(), json.dumps({**command, "extra": 1}).encode(),
        json.dumps({**command, "v": 2}).encode(), json.dumps({**command, "timeout_s": 0}).encode(),
        json.dumps({**command, "request_id": "r\n"}).encode(), b'{"v":1,"type":"command","request_id":"r","com',
        b"[1]", b"NaN", json.dumps({**command, "params": {"k": 1e999}}).replace("Infinity", "1e999").encode(),
        json.dumps({**command, "params": {"k": 2**64}}).encode(), b"[" * 100 + b"]" * 100,
        json.dumps({**command, "params": {"pad": "x" * 140_000}}).encode(),
    ]  # fmt: skip
    from shared.messages.command import Command

    for payload in payloads:
        try:
            want: Any = json.loads(encode(decode(Command, payload)))
        except MessageError as exc:
            want = exc.code
        try:
            got: Any = json.loads(structs.encode(structs.decode(structs.Command, payload)))
        except MessageError as exc:
            got = exc.code
        assert want == got, payload[:100]


def test_a_failed_response_says_why_under_both() -> None:
    ok = structs.build(structs.Response, request_id="r", success=False, error="no", error_code=ErrorCode.BUSY)
    wire = b'{"v":1,"type":"response","request_id":"r","success":false,"error":"no","error_code":"busy"}'
    assert structs.encode(ok) == wire
    with pytest.raises(msgspec.ValidationError, match="must say why"):
        structs.build(structs.Response, request_id="r", success=False)
    with pytest.raises(msgspec.ValidationError, match="carries no error"):
        structs.build(structs.Response, request_id="r", success=True, error="x")


def test_a_model_with_a_rule_the_writer_does_not_know_is_refused() -> None:
    from pydantic import field_validator

    from shared.messages.base import Message

    class Ruled(Message):
        x: int

        @field_validator("x")
        @classmethod
        def _odd(cls, value: int) -> int:
            return value

    with pytest.raises(UnsupportedModel, match="field validators"):
        WRITER._struct(Ruled)
    assert set(RULES) <= set(MODELS)
