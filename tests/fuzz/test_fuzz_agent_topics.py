"""Fuzz the one topic an agent consumes (``ct/agent/{id}/down/command``) through its own dispatcher: the quick-path
predicate the MQTT thread runs first, then the handling.

The property: nothing raises; a command with a usable ``request_id`` always gets exactly one answer (the sender
can receive a clear error: the response's ``error_code`` and ``error``); without one, nothing is published.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from edge.agent.dispatcher import Dispatcher, request_id_of
from shared.messages import Response, decode
from shared.mqtt import IncomingMessage
from shared.topics import AgentUp, agent_down
from tests.fuzz.payloads import dumps, nest, payloads
from tests.fuzz.tally import tally

COMMANDS: list[dict[str, Any]] = [
    {"type": "command", "request_id": "r-1", "command": "ping", "params": {}},
    {"type": "command", "request_id": "r-2", "command": "set_setting", "params": {"key": "a", "value": "b"}},
    {"type": "command", "request_id": "r-3", "command": "exec", "params": {"cmd": "true"}, "timeout_s": 5},
]


class Uplink:
    def __init__(self) -> None:
        self.published: list[tuple[AgentUp, bytes]] = []
        self.lock = threading.Lock()

    def publish(self, channel: AgentUp, message: Any, *, retain: bool = False) -> bool:
        payload = message if isinstance(message, bytes) else message.model_dump_json().encode()
        with self.lock:
            self.published.append((channel, payload))
        return True


def echo(command: Any, params: Any) -> Any:
    return {"echo": command.command}


def unsendable(command: Any, params: Any) -> Any:
    """A handler whose answer breaks the limits (as a buggy one could): the agent must still answer, saying why."""
    return {"load": float("nan"), "deep": nest(40)}


@given(payload=payloads(*COMMANDS), retain=st.booleans(), request_id=st.text(max_size=8))
@example(payload=("[" * 5000 + "]" * 5000).encode(), retain=False, request_id="r")
@example(payload=b'{"request_id": "r-9", ' + b'"x":' + b"[" * 3000, retain=False, request_id="r")
@example(payload=dumps({**COMMANDS[0], "params": nest(300)}), retain=False, request_id="r")
@example(payload=b'{"command": {"a": 1}, "request_id": "r-7"}', retain=False, request_id="r")  # found: TypeError
@example(payload=dumps(COMMANDS[1]), retain=False, request_id="r")  # an answer that cannot be sent
@example(payload=b'{"type": "command", "request_id": "r-8", "command": "ping", "timeout_s": NaN}', retain=False,
         request_id="r")  # fmt: skip
def test_fuzz_agent_command_topic(payload: bytes, retain: bool, request_id: str) -> None:
    tally("agent ct/agent/{id}/down/command")
    uplink = Uplink()
    dispatcher = Dispatcher(uplink, {"ping": echo, "set_setting": unsendable, "exec": echo})  # type: ignore[arg-type]
    message = IncomingMessage(agent_down("agent-1"), payload, 1, retain)
    Dispatcher.quick(message)
    dispatcher(message)
    responses = [decode(Response, p) for c, p in uplink.published if c is AgentUp.RESPONSE]
    usable = request_id_of(payload)
    if retain or usable is None:
        if usable is None:
            assert responses == [] or all(r.success for r in responses)
        return
    assert len(responses) == 1, responses
    answer = responses[0]
    assert answer.request_id == usable
    assert answer.success or (answer.error and answer.error_code is not None)
    json.dumps(json.loads(answer.model_dump_json()), allow_nan=False)
