from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.errors import ErrorCode, MessageError
from shared.messages import (
    MAX_PAYLOAD_BYTES,
    AgentResult,
    Command,
    CommandResults,
    CommandStatus,
    Heartbeat,
    Metrics,
    Presence,
    Response,
    SiteCommand,
    SiteHeartbeat,
    StateUpdate,
    Status,
    decode,
    encode,
)

REPO = Path(__file__).resolve().parents[3]


def test_seed_shapes_are_kept() -> None:
    cmd = json.loads(encode(Command(request_id="req_123", command="get_all_settings")))
    assert {k: cmd[k] for k in ("type", "request_id", "command", "params")} == {
        "type": "command",
        "request_id": "req_123",
        "command": "get_all_settings",
        "params": {},
    }
    resp = json.loads(encode(Response.ok("req_123", {"a": "1"})))
    assert resp["type"] == "response" and resp["success"] is True and resp["data"] == {"a": "1"}
    hb = json.loads(encode(Heartbeat(timestamp=1234567890.123)))
    assert hb["type"] == "heartbeat" and hb["timestamp"] == 1234567890.123
    st = json.loads(encode(StateUpdate.model_validate({"data": {"settings": {"k": "v"}}})))
    assert st == {"v": 1, "type": "state_update", "data": {"settings": {"k": "v"}}}


@pytest.mark.parametrize(
    "model",
    [Command, Response, Heartbeat, Status, Metrics, StateUpdate, SiteCommand, SiteHeartbeat, CommandResults],
)
def test_every_message_has_version_and_forbids_extra(model: type[BaseModel]) -> None:
    assert "v" in model.model_fields
    assert model.model_config.get("extra") == "forbid"


def test_round_trip_through_bytes() -> None:
    msgs = [
        Command(request_id="r1", command="exec", params={"cmd": "echo hi"}, timeout_s=5),
        Response.fail("r1", ErrorCode.TIMEOUT, "took too long"),
        Status(state=Presence.ONLINE, timestamp=1.0, reason="start", version="0.1.0"),
        SiteCommand(request_id="c-1", command="ping", targets=["a1", "a2"]),
        CommandResults(
            results=[AgentResult(request_id="c-1", agent_id="a1", status=CommandStatus.SUCCEEDED, timestamp=2.0)]
        ),
    ]
    for msg in msgs:
        assert decode(type(msg), encode(msg)) == msg


def test_unknown_field_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(MessageError) as err:
        decode(Command, b'{"type":"command","request_id":"r","command":"ping","paramz":{}}')
    assert err.value.code is ErrorCode.BAD_PAYLOAD
    assert "paramz" in err.value.message


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"{not json", ErrorCode.BAD_JSON),
        (b"\xff\xfe", ErrorCode.BAD_JSON),
        (b"[1,2]", ErrorCode.BAD_PAYLOAD),
        (b'{"type":"command","request_id":"r","command":"ping","v":2}', ErrorCode.BAD_PAYLOAD),
        (b'{"type":"command","request_id":"../x","command":"ping"}', ErrorCode.BAD_PAYLOAD),
        (b'{"type":"command","request_id":"r","command":"ping","params":[]}', ErrorCode.BAD_PAYLOAD),
        (b'{"type":"command","request_id":"r","command":"ping","timeout_s":0}', ErrorCode.BAD_PAYLOAD),
        (b" " * (MAX_PAYLOAD_BYTES + 1), ErrorCode.PAYLOAD_TOO_LARGE),
    ],
)
def test_bad_payloads(payload: bytes, code: ErrorCode) -> None:
    with pytest.raises(MessageError) as err:
        decode(Command, payload)
    assert err.value.code is code


def test_response_invariants() -> None:
    with pytest.raises(MessageError):
        decode(Response, b'{"type":"response","request_id":"r","success":false}')
    with pytest.raises(MessageError):
        decode(Response, b'{"type":"response","request_id":"r","success":true,"error":"x"}')
    assert Response.fail("r", ErrorCode.TIMEOUT, "t").status is CommandStatus.TIMED_OUT
    assert Response.fail("r", ErrorCode.UNKNOWN_COMMAND, "u").status is CommandStatus.REJECTED
    assert Response.fail("r", ErrorCode.EXEC_FAILED, "x").status is CommandStatus.FAILED
    assert Response.ok("r").status is CommandStatus.SUCCEEDED


def test_site_command_needs_targets() -> None:
    with pytest.raises(MessageError):
        decode(SiteCommand, b'{"type":"command","request_id":"c","command":"ping","targets":[]}')
    with pytest.raises(MessageError):
        decode(SiteCommand, b'{"type":"command","request_id":"c","command":"ping","targets":["a/b"]}')


def test_every_public_message_name_is_importable_from_the_package_and_loads_its_family_on_first_use() -> None:
    code = (
        "import importlib, sys\n"
        "import shared.messages as m\n"
        "loaded = sorted(n for n in sys.modules if n.startswith('shared.messages.'))\n"
        "assert loaded == [], loaded\n"
        "for name in m.__all__:\n"
        "    value = getattr(m, name)\n"
        "    assert value is getattr(importlib.import_module('shared.messages.' + m._HOMES[name]), name), name\n"
        "ns = {}\n"
        "exec('from shared.messages import *', ns)\n"
        "assert set(m.__all__) <= set(ns), set(m.__all__) - set(ns)\n"
        "assert set(m.__all__) <= set(dir(m))\n"
        "try:\n"
        "    m.NoSuchMessage\n"
        "except AttributeError as exc:\n"
        "    assert 'NoSuchMessage' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('an unknown name must raise AttributeError')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_a_deferred_schema_built_by_many_threads_at_once_validates_as_declared() -> None:
    """Schemas build on first use (``defer_build``): threads racing to build one must never validate with a
    parent's schema (pydantic#11849, fixed in 2.11.5: the reason for the pin in pyproject.toml)."""
    code = (
        "import threading\n"
        "import edge.agent  # the agent defers schema builds\n"
        "from shared.errors import MessageError\n"
        "from shared.messages import Heartbeat, decode\n"
        "assert not Heartbeat.__pydantic_complete__\n"
        "good = b'{\"type\": \"heartbeat\", \"v\": 1, \"timestamp\": 1.0, \"seq\": 3}'\n"
        "bad = good[:-1] + b', \"extra\": 1}'\n"
        "gate, out = threading.Barrier(8), []\n"
        "def run(i):\n"
        "    gate.wait()\n"
        "    try:\n"
        "        decode(Heartbeat, bad if i % 2 else good)\n"
        "        out.append((i, 'accepted'))\n"
        "    except MessageError:\n"
        "        out.append((i, 'refused'))\n"
        "threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(sorted(out))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    expected = sorted((i, "refused" if i % 2 else "accepted") for i in range(8))
    assert out.stdout.strip() == str(expected)
