"""``SiteHeartbeat.full_period_s``: the full heartbeat period an LMS states (optional: older LMSs send none), bounded
by ``FULL_PERIOD_MIN_S``..``FULL_PERIOD_MAX_S`` in both forms of the message (pydantic, and the msgspec mirror the
cloud's rule functions decode with), so that no site can claim a period that would keep it from ever looking
silent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shared.errors import MessageError
from shared.messages import SiteHeartbeat, structs
from shared.messages.checks import FULL_PERIOD_MAX_S, FULL_PERIOD_MIN_S

BASE = {"type": "site_heartbeat", "v": 1, "timestamp": 1.0, "lms_version": "1.0", "full": True, "agents": []}


def both(data: dict[str, Any]) -> tuple[Any, Any]:
    """What each form makes of ``data``: its ``full_period_s``, or ``"refused"``."""
    mine: float | str | None
    mirrored: float | str | None
    try:
        mine = SiteHeartbeat.model_validate(data).full_period_s
    except ValidationError:
        mine = "refused"
    try:
        mirrored = structs.decode(structs.SiteHeartbeat, json.dumps(data).encode()).full_period_s
    except MessageError:
        mirrored = "refused"
    return mine, mirrored


@pytest.mark.parametrize("period", [FULL_PERIOD_MIN_S, 60.0, 300, 300.0, FULL_PERIOD_MAX_S])
def test_a_period_within_the_bounds_is_taken(period: float) -> None:
    assert both({**BASE, "full_period_s": period}) == (period, period)


@pytest.mark.parametrize("period", [FULL_PERIOD_MAX_S + 0.001, 3600, 1e300, FULL_PERIOD_MIN_S - 0.001, 0, -300,
                                    True, [300], {"s": 300}])  # fmt: skip
def test_a_period_past_the_bounds_or_not_a_number_is_refused(period: Any) -> None:
    assert both({**BASE, "full_period_s": period}) == ("refused", "refused")


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity"])
def test_not_a_finite_number_is_refused(raw: bytes) -> None:
    payload = json.dumps({**BASE, "full_period_s": 0}).encode().replace(b": 0}", b": " + raw + b"}")
    with pytest.raises(MessageError):
        structs.decode(structs.SiteHeartbeat, payload)


def test_the_cloud_refuses_a_period_as_a_string() -> None:
    """The cloud's rule functions decode with the mirror, which takes JSON numbers only (pydantic's lax mode reads
    ``"300"`` as 300, as for every number of the message: tests/unit/agent/test_agent_structs.py)."""
    assert both({**BASE, "full_period_s": "300"})[1] == "refused"


def test_an_older_lms_states_none_and_null_means_the_same() -> None:
    assert both(BASE) == (None, None)
    assert both({**BASE, "full_period_s": None}) == (None, None)
