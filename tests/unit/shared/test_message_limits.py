"""The intake limits of every message (issue 17): depth, finite numbers, 64-bit integers, size — at decoding (any
hop) and in the models themselves (so that no sender can build such a message either)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from shared.errors import ErrorCode, MessageError
from shared.messages import (
    AgentResult,
    Command,
    Event,
    Metrics,
    Response,
    SiteCommand,
    StateData,
    decode,
    load_json,
)
from shared.messages.checks import MAX_DATA_DEPTH, MAX_PAYLOAD_DEPTH, json_problem


def nested(levels: int, leaf: Any = 0) -> Any:
    value = leaf
    for i in range(levels):
        value = {"x": value} if i % 2 else [value]
    return value


def test_depth_is_counted_from_the_value() -> None:
    assert json_problem(nested(MAX_DATA_DEPTH)) is None
    assert "32 levels" in str(json_problem(nested(MAX_DATA_DEPTH + 1)))
    assert json_problem(0) is None and json_problem({}) is None


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (json.dumps(nested(MAX_PAYLOAD_DEPTH + 1)), "64 levels"),
        ("[" * 5000 + "]" * 5000, "64 levels"),  # the C parser's own limit is ~1,000 levels
        ('{"a":' * 5000 + "1" + "}" * 5000, "64 levels"),
        ('{"load": NaN}', "NaN is not a number"),
        ('{"t": Infinity}', "Infinity is not a number"),
        ('{"t": -Infinity}', "-Infinity is not a number"),
        ('{"t": 1e999}', "too large for a float"),
        ('{"t": 9223372036854775808}', "64 bits"),
        ('{"t": -9223372036854775809}', "64 bits"),
    ],
)
def test_load_json_refuses_what_no_answer_could_carry(payload: str, words: str) -> None:
    with pytest.raises(MessageError, match=words) as caught:
        load_json(payload)
    assert caught.value.code is ErrorCode.BAD_JSON


def test_load_json_takes_the_edges() -> None:
    assert load_json(json.dumps(nested(MAX_PAYLOAD_DEPTH))) is not None
    assert load_json('{"a": 9223372036854775807, "b": -9223372036854775808, "c": 1.5e308}')["a"] == 2**63 - 1


SAMPLE = {"type": "metrics", "timestamp": 1.0, "cpu_percent": 5.0, "mem_total": 1, "mem_used": 1, "mem_percent": 1.0}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_models_refuse_non_finite_floats(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Metrics.model_validate({**SAMPLE, "load": [bad, 0, 0]})
    with pytest.raises(ValueError, match="finite"):
        Metrics.model_validate({**SAMPLE, "timestamp": bad})
    with pytest.raises(ValueError, match="NaN or infinite"):
        Event(timestamp=1, kind="processes", data={"processes": [{"cpu": bad}]})
    with pytest.raises(ValueError, match="NaN or infinite"):
        Command(request_id="r", command="ping", params={"x": bad})


@pytest.mark.parametrize(
    "build",
    [
        lambda d: Event(timestamp=1, kind="disk.full", data={"d": d}),
        lambda d: Command(request_id="r", command="ping", params={"d": d}),
        lambda d: Response.ok("r", {"d": d}),
        lambda d: SiteCommand(request_id="r", command="ping", params={"d": d}, targets=["a"]),
        lambda d: AgentResult(request_id="r", agent_id="a", status="succeeded", data={"d": d}, timestamp=1),
        lambda d: StateData(inventory={"d": d}),
        lambda d: StateData(cctv_state={"d": d}),
    ],
)
def test_free_form_fields_are_bounded_on_the_sending_side(build: Any) -> None:
    build(nested(MAX_DATA_DEPTH - 1))
    with pytest.raises(ValueError, match="nested more than 32"):
        build(nested(MAX_DATA_DEPTH))  # one more level with the field's own object
    with pytest.raises(ValueError, match="64 bits"):
        build(2**63)


def test_a_deep_event_that_parses_is_refused_at_intake() -> None:
    event = {"type": "event", "timestamp": time.time(), "kind": "disk.full", "data": nested(40)}
    with pytest.raises(MessageError, match="nested more than 32") as caught:
        decode(Event, json.dumps(event))
    assert caught.value.code is ErrorCode.BAD_PAYLOAD
