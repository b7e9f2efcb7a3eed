"""Fuzz the one decoder every MQTT consumer uses (``shared.messages.decode``) with each message model consumed on
a topic of ``shared/topics.py``: agent -> LMS, LMS -> agent, cloud -> LMS, LMS -> cloud (the cloud's rule handlers).

The property: any payload either decodes to a message or is refused with a :class:`MessageError` (a clear code
and reason, nothing else raised); a message that decodes is fit to keep and show — it encodes to strict JSON
(no NaN or infinities), within the depth limit, and decodes back to itself.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import example, given
from pydantic import BaseModel

from shared.errors import ErrorCode, MessageError
from shared.messages import (
    AgentRetire,
    AgentSnapshots,
    Command,
    CommandResults,
    Event,
    Heartbeat,
    LogRequest,
    MetricRollups,
    Metrics,
    Response,
    SiteCommand,
    SiteEvents,
    SiteHeartbeat,
    StateUpdate,
    Status,
    decode,
    encode,
)
from shared.messages.checks import MAX_PAYLOAD_DEPTH, json_problem
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally

NOW = time.time()
EVENT = {"type": "event", "timestamp": NOW, "kind": "disk.full", "severity": "warning", "data": {"a": [1, 2.5]}}
RESULT = {"request_id": "c-1", "agent_id": "agent-1", "status": "succeeded", "success": True, "data": {"x": 1},
          "timestamp": NOW}  # fmt: skip
SNAPSHOT = {"agent_id": "agent-1", "kind": "settings", "epoch": "e1", "version": 1, "hash": "0" * 64,
            "data": {"a": "b"}, "updated_at": NOW}  # fmt: skip
#: each consumed model and a good message of it (the seed of the mutations)
MODELS: dict[type[BaseModel], dict[str, Any]] = {
    Status: {"type": "status", "state": "online", "timestamp": NOW, "reason": "start", "hostname": "pc-1"},
    Heartbeat: {"type": "heartbeat", "timestamp": NOW, "seq": 3},
    Metrics: {"type": "metrics", "timestamp": NOW, "cpu_percent": 5.0, "mem_total": 100, "mem_used": 50,
              "mem_percent": 50.0, "load": [0.1, 0.2, 0.3]},
    StateUpdate: {"type": "state_update", "data": {"settings": {"a": "b"}, "inventory": {"cpus": 4}}},
    Event: EVENT,
    Response: {"type": "response", "request_id": "r-1", "success": True, "data": {"pong": True}},
    Command: {"type": "command", "request_id": "r-1", "command": "ping", "params": {"a": 1}},
    SiteCommand: {"type": "command", "request_id": "c-1", "command": "ping", "params": {}, "targets": ["agent-1"]},
    LogRequest: {"type": "log_request", "request_id": "l-1", "expires_at": NOW + 60,
                 "upload": {"url": "https://bucket.example/", "fields": {"key": "k"}}},
    AgentRetire: {"type": "agent_retire", "agent_id": "agent-1", "by": "admin", "timestamp": NOW},
    SiteHeartbeat: {"type": "site_heartbeat", "timestamp": NOW, "lms_version": "1.0",
                    "agents": [{"agent_id": "agent-1", "status": "online"}]},
    CommandResults: {"type": "command_results", "results": [RESULT]},
    SiteEvents: {"type": "site_events", "events": [{"agent_id": "agent-1", "event": EVENT}]},
    AgentSnapshots: {"type": "agent_snapshots", "snapshots": [SNAPSHOT]},
    MetricRollups: {"type": "metric_rollups", "rollups": [{"agent_id": "agent-1", "start": 0, "samples": 1,
                                                           "cpu_min": 1.0, "cpu_avg": 1.0, "cpu_max": 1.0}]},
}  # fmt: skip


def check(model: type[BaseModel], payload: bytes) -> None:
    try:
        message = decode(model, payload)
    except MessageError as exc:
        assert exc.code in (ErrorCode.BAD_JSON, ErrorCode.BAD_PAYLOAD, ErrorCode.PAYLOAD_TOO_LARGE)
        assert exc.message
        return
    text = encode(message)
    data = json.loads(text)  # strict JSON: NaN or Infinity would not be ...
    json.dumps(data, allow_nan=False)  # ... and this proves it
    assert json_problem(data, max_depth=MAX_PAYLOAD_DEPTH) is None
    assert decode(model, text) == message


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_the_seeds_are_good_messages(model: type[BaseModel]) -> None:
    decode(model, dumps(MODELS[model]))


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_fuzz_decode(model: type[BaseModel]) -> None:
    @given(payload=payloads(MODELS[model]))
    @example(payload=dumps({**EVENT, "data": nest(300)}))
    @example(payload=dumps({**MODELS[model], "timestamp": float("inf")}))
    @example(payload=b'{"type": "metrics", "load": [NaN, 0, 0]}')
    @example(payload=("[" * 5000 + "]" * 5000).encode())
    @example(payload=dumps({**MODELS[model], "seq": 2**64}))
    def run(payload: bytes) -> None:
        tally(f"decode {model.__name__}")
        check(model, payload)

    run()
