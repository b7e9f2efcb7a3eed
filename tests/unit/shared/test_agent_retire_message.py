"""The cloud -> LMS retirement message (``shared.messages.AgentRetire`` on ``site_down(..., RETIRE)``)."""

from __future__ import annotations

import pytest

from shared import topics
from shared.errors import SharedError
from shared.messages import AgentRetire, decode, encode
from shared.names import Namespace
from shared.topics import SiteDown


def test_retire_topic_round_trips_and_is_under_the_sites_down_filter() -> None:
    ns = Namespace("d1", "dev")
    topic = topics.site_down(ns, "s1", SiteDown.RETIRE)
    assert topic == "ct/d1/dev/site/s1/down/retire"
    assert topics.parse(topic).build() == topic
    assert topics.site_down_filter(ns, "s1").removesuffix("+") == topic.removesuffix("retire")


def test_agent_retire_round_trips() -> None:
    message = AgentRetire(agent_id="pc-1", by="admin", reason="scrapped", timestamp=1.0)
    assert decode(AgentRetire, encode(message)) == message


@pytest.mark.parametrize("payload", [
    b'{"v": 1, "type": "agent_retire", "agent_id": "../x", "by": "a", "timestamp": 1}',
    b'{"v": 1, "type": "agent_retire", "agent_id": "pc-1", "by": "", "timestamp": 1}',
    b'{"v": 1, "type": "agent_retire", "agent_id": "pc-1", "by": "a", "timestamp": 1, "extra": 1}',
    b'{"v": 2, "type": "agent_retire", "agent_id": "pc-1", "by": "a", "timestamp": 1}',
    b'{"v": 1, "type": "agent_retire", "agent_id": "pc-1", "by": "a", "reason": "' + b"x" * 201 + b'", "timestamp": 1}',
    b"not json",
])
def test_bad_agent_retire_messages_are_refused(payload: bytes) -> None:
    with pytest.raises(SharedError):
        decode(AgentRetire, payload)
