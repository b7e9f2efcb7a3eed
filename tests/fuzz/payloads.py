"""Hypothesis strategies of hostile payloads: any bytes, sizes up to the broker's limit, deep nesting, wrong types,
NaN and infinities, huge integers, unknown and foreign ids, and valid messages with one field replaced."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

from shared.messages import MAX_PAYLOAD_BYTES

#: JSON scalars, hostile ones included (NaN, infinities, integers far beyond 64 bits, odd strings)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**63) + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324]),
    st.text(max_size=40),
    st.sampled_from(["", "agent-1", "agent-2", "../etc/passwd", "a/b/#", "+", "\x00", "é" * 70, "x" * 300]),
)

#: any JSON value (with NaN and infinities as Python floats), a few levels deep
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def nest(levels: int, leaf: Any = 0, *, kind: str = "object") -> Any:
    value = leaf
    for _ in range(levels):
        value = {"x": value} if kind == "object" else [value]
    return value


def dumps(value: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity included (as a careless or hostile sender would)."""
    return json.dumps(value, default=str).encode()


@st.composite
def deep_text(draw: st.DrawFn) -> bytes:
    """Valid or unclosed JSON nested anywhere from a few to 5,000 levels."""
    levels = draw(st.one_of(st.integers(1, 80), st.integers(200, 300), st.integers(900, 5000)))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    closed = draw(st.booleans())
    return (opener * levels + ("1" if opener != "[" else "") + (closer * levels if closed else "")).encode()


@st.composite
def big_payloads(draw: st.DrawFn) -> bytes:
    """A JSON string or object around the broker's limit."""
    size = draw(st.one_of(st.integers(MAX_PAYLOAD_BYTES - 64, MAX_PAYLOAD_BYTES + 64), st.integers(0, 4096)))
    return json.dumps({"type": "event", "blob": "x" * size}).encode()[: size + 40]


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """``valid`` with one field replaced, removed or added (wrong types, NaN, deep data...)."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        doc = dict(valid)
        action = draw(st.sampled_from(["replace", "remove", "add", "deepen"]))
        key = draw(st.sampled_from(sorted(doc)))
        if action == "replace":
            doc[key] = draw(json_values)
        elif action == "remove":
            doc.pop(key)
        elif action == "add":
            doc[draw(st.text(max_size=10))] = draw(json_values)
        else:
            doc[key] = nest(draw(st.integers(20, 300)), draw(scalars))
        return dumps(doc)

    return build()


def payloads(*valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Every kind of hostile payload for a consumer whose good messages look like ``valid``."""
    return st.one_of(
        st.binary(max_size=256),
        big_payloads(),
        deep_text(),
        json_values.map(dumps),
        *(mutated(v) for v in valid),
        *(st.just(dumps(v)) for v in valid),
    )
